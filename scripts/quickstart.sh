#!/usr/bin/env bash
# Set up (first time only) and measure the embedded default: SmolLM2-135M on this machine, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m llem "$@"
