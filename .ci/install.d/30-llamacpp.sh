#!/usr/bin/env bash
# Install llama-cpp-python (the llamacpp backend) into .venv, and llama.cpp's own server
# (llama-server, backend.server=llama-server), both from ONE build of the llama.cpp source that
# llama-cpp-python's sdist vendors, so both server modes and the offline backend run one llama.cpp.
# It ships no wheel for this platform. Its own sdist build (pip) compiles ggml and llama.cpp, and
# llama-server statically linked compiled them a second time: 451 s and 324 s on a clean 2-core machine
# (2026-12-08, docs/testing.md). Here CMake builds the shared libraries (libllama, libggml*, libmtmd) and llama-server
# linked against them once; the bindings' Python package is installed from the same sdist with its
# own compile switched off (LLAMA_BUILD=OFF, its CMake option) and finds the libraries in
# llama_cpp/lib, where it looks first. llama-server lies beside them (its RPATH is $ORIGIN) and
# .venv/bin/llama-server links to it.
# The build is cached under /root/.cache/llem-ci/llama.cpp/, keyed by version and build flags, and
# reused when present; on a clean machine it is rebuilt. Idempotent: a working install of the same
# version and flags is left alone.
# Usage: bash .ci/install.d/30-llamacpp.sh [build]   (build: only fill the cache, no .venv needed; .ci/run
# starts it first, in the background, so the compile overlaps the other installs)
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/versions.env
VERSION=${LLEM_LLAMACPP_VERSION:-$LLAMA_CPP_PYTHON}
# Portable CPU build: no -march=native, so a cached build runs on any x86-64 runner.
EXTRA=${LLEM_LLAMACPP_CMAKE_ARGS:--DGGML_NATIVE=OFF}
# Shared libraries with an RPATH of $ORIGIN (they and llama-server find each other in one folder);
# the server without its web UI (it would be fetched from the network) and without HTTPS (loopback only).
ARGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON -DCMAKE_INSTALL_RPATH=\$ORIGIN \
 -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
 -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF $EXTRA"
KEY=$(printf '%s' "$ARGS" | sha256sum | cut -c1-12)
CACHE=${LLEM_CI_CACHE:-/root/.cache/llem-ci}/llama.cpp/${VERSION}-${KEY}
PY=.venv/bin/python
BIN=.venv/bin/llama-server
pip() { "$1" -m pip --disable-pip-version-check -q "${@:2}" 2> >(grep -v "^WARNING: Location" >&2); }
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT

build() {  # fill $CACHE: the shared libraries and llama-server of one CMake build
  if [ -f "$CACHE/done" ]; then
    echo "reusing the cached llama.cpp build $CACHE"; return 0
  fi
  echo "building llama.cpp from llama-cpp-python $VERSION's vendored source (libraries and llama-server); this takes minutes"
  local t0=$SECONDS src
  src=$(mktemp -d)
  scratch+=("$src")
  pip python3 download --no-deps --no-binary :all: -d "$src" "llama-cpp-python==$VERSION"
  tar -xzf "$src"/llama_cpp_python-"$VERSION".tar.gz -C "$src"
  local targets=(llama-server llama)
  # the multimodal library the bindings ship (llama_cpp.mtmd_cpp); older sdists name it llava
  [ ! -d "$src/llama_cpp_python-$VERSION/vendor/llama.cpp/tools/mtmd" ] || targets+=(mtmd)
  # shellcheck disable=SC2086  # ARGS is a list of -D flags
  cmake -S "$src/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$src/build" $ARGS >/dev/null
  cmake --build "$src/build" --target "${targets[@]}" -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" >/dev/null
  local out  # filled under a name of its own, then renamed: a build beside this one never sees half a cache
  mkdir -p "$(dirname "$CACHE")" && out=$(mktemp -d "$CACHE.XXXXXX")
  cp -P "$src"/build/bin/lib*.so* "$src/build/bin/llama-server" "$out/" && touch "$out/done"
  if [ -f "$CACHE/done" ]; then rm -rf "$out"; else rm -rf "$CACHE" && mv "$out" "$CACHE"; fi
  echo "llama.cpp built in $((SECONDS - t0)) s: $CACHE"
}

if [ "${1:-}" = build ]; then
  build; exit
fi
installed=$("$PY" -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))" 2>/dev/null || true)
if [ "$installed" = "$VERSION" ] && [ "$(cat "$BIN.version" 2>/dev/null)" = "$VERSION $KEY" ] && [ -x "$BIN" ] \
   && "$PY" -c "import llama_cpp, starlette_context, aiohttp" 2>/dev/null; then
  echo "llama-cpp-python $VERSION and llama-server already installed (one build, $KEY)"
else
  build
  # The Python package and its runtime deps (numpy, typing-extensions, diskcache, jinja2) and the server's
  # ([server]) from the index, its own compile off; never from or into pip's wheel cache, where a wheel
  # without libraries would stand in for a whole one later.
  CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" \
    pip "$PY" install --no-cache-dir --no-binary llama-cpp-python "llama-cpp-python[server]==$VERSION" "aiohttp>=3.9"
  lib=$("$PY" -c "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('llama_cpp').origin).parent / 'lib')")
  mkdir -p "$lib" && cp -P "$CACHE"/lib*.so* "$CACHE/llama-server" "$lib/"
  ln -sfn "$(realpath --relative-to="$(dirname "$BIN")" "$lib/llama-server")" "$BIN"
  echo "$VERSION $KEY" > "$BIN.version"
fi
"$PY" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'from', llama_cpp.__file__)"
"$BIN" --version 2>&1 | grep -m1 version
