#!/usr/bin/env bash
# Docker launcher tests: Debian's docker.io (dockerd, containerd, runc) and debootstrap for a
# locally made base image (no registry is reachable). The launcher drives the docker CLI.
# Idempotent. Images are built by the dockerd service script, not here.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi
echo "docker: $(dockerd --version)"
