#!/usr/bin/env bash
# UI tests (tests/report/test_html.py, tests/tracking/test_mlflow_ui.py): Debian's headless-capable
# `chromium`, driven over the DevTools pipe; it loads only local files and a loopback MLflow server.
# Idempotent: nothing is installed when the command exists.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
chromium --version
