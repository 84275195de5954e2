#!/usr/bin/env bash
# Download, HERE (a machine with PyPI access), the wheels that the GPU machine lacks, into .gpuwheels/
# (git-ignored; carry it to the GPU machine). That machine has torch, transformers, nvidia-ml-py,
# accelerate and safetensors but not hydra-core, omegaconf, antlr4, pydantic, rich or zeus.
# Versions follow this checkout's .venv so the GPU run uses what the tests here used.
# Idempotent: existing wheels are kept. Usage: bash benchmarks/gpu/fetch_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.gpuwheels
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DEST"
pip() { "$PY" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
ver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || echo "${2:?no version for $1}"; }

# Pure-Python wheels (py3-none-any), pinned to this .venv's versions where it has them.
PURE=(
  "hydra-core==$(ver hydra-core)" "omegaconf==$(ver omegaconf)"
  "pydantic==$(ver pydantic)" "annotated-types==$(ver annotated-types)" "typing-inspection==$(ver typing-inspection)"
  "rich==$(ver rich)" "markdown-it-py==$(ver markdown-it-py)" "mdurl==$(ver mdurl)" "pygments==$(ver pygments)"
  "zeus==$(ver zeus 0.16.0)"
  # what `from zeus.monitor import ZeusMonitor` imports beyond the above (checked 2026-11-27, zeus 0.16.0)
  "httpx==$(ver httpx 0.28.1)" "httpcore==$(ver httpcore 1.0.9)" "h11==$(ver h11 0.16.0)"
  "anyio==$(ver anyio 4.16.0)" "idna==$(ver idna 3.20)" "certifi==$(ver certifi 2026.10.19.post1)"
  # llama-cpp-python's one pure dependency beyond numpy (its llama_cache imports it at import time); the
  # GPU image lacks it, so the CUDA build's smoke check (build_llamacpp.sh) failed on it (2026-12-06)
  "diskcache==$(ver diskcache 5.6.3)"
)
pip download --no-deps --only-binary=:all: -d "$DEST" "${PURE[@]}"

# antlr4-python3-runtime 4.9.3 (what omegaconf 2.3 needs) exists only as an sdist: build its pure wheel here.
ANTLR="antlr4-python3-runtime==4.9.3"
ls "$DEST"/antlr4_python3_runtime-4.9.3-*.whl >/dev/null 2>&1 || pip wheel --no-deps -w "$DEST" "$ANTLR"

# pydantic-core is compiled: manylinux x86_64 wheels for CPython 3.11 and 3.12.
CORE="pydantic-core==$(ver pydantic_core)"
for pyv in 3.11 3.12; do
  pip download --no-deps --only-binary=:all: -d "$DEST" --implementation cp --python-version "$pyv" \
    --abi "cp${pyv/./}" --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "$CORE"
done

# What run_proof.sh installs, by name (pip picks the right pydantic-core wheel for the interpreter).
printf '%s\n' "${PURE[@]}" "$ANTLR" "$CORE" > "$DEST/requirements.txt"
ls -1 "$DEST"
du -sh "$DEST"
