#!/usr/bin/env bash
# On the GPU machine (no network): build llama-cpp-python with CUDA from a trimmed sdist (the
# llama-cpp-python sdist with vendor/llama.cpp/{models,docs,benches,tests,examples,media} removed,
# see ../shared/gpu/README.md) into a wheel, and install it into LSITE (default /root/lsite).
# Then llama.cpp's own llama-server from the same vendored source, with CUDA, into LSITE/bin (use it
# as LLEM_LLAMA_SERVER=LSITE/bin/llama-server with backend.server=llama-server); both builds run side
# by side on half the cores each. Meant to run in the background (setsid) while other staging goes
# on: it leaves LSITE.done or LSITE.failed (and LSITE.server.done / .server.failed) beside LSITE,
# and its logs in /root/lcpp-build.log and /root/lcpp-server-build.log.
#   setsid bash benchmarks/gpu/build_llamacpp.sh .gpustage/lcpp/llama_cpp_python-0.3.36-trim.tar.gz &
set -uo pipefail
SDIST=$(realpath "${1:?usage: build_llamacpp.sh SDIST.tar.gz}")
LSITE=${LSITE:-/root/lsite}; WORK=/root/lcpp-build
exec > /root/lcpp-build.log 2>&1
rm -rf "$WORK" "$LSITE.done" "$LSITE.failed" && mkdir -p "$WORK" && tar xzf "$SDIST" -C "$WORK"
src=$(ls -d "$WORK"/llama_cpp_python-*/)
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-8}
rm -f "$LSITE.server.done" "$LSITE.server.failed"
(
  exec > /root/lcpp-server-build.log 2>&1
  t0=$SECONDS
  if cmake -S "$src/vendor/llama.cpp" -B "$WORK/server-build" -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 \
       -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF \
       -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF -DCMAKE_BUILD_TYPE=Release &&
     cmake --build "$WORK/server-build" --target llama-server -j "$CMAKE_BUILD_PARALLEL_LEVEL"; then
    mkdir -p "$LSITE/bin" && cp "$WORK/server-build/bin/llama-server" "$LSITE/bin/" &&
      "$LSITE/bin/llama-server" --version > "$LSITE/bin/llama-server.version" 2>&1
    echo "llama-server built in $((SECONDS - t0)) s"; touch "$LSITE.server.done"
  else
    echo "llama-server build failed after $((SECONDS - t0)) s"; touch "$LSITE.server.failed"
  fi
) &
t0=$SECONDS
if python3 -m pip wheel -v --no-deps --no-build-isolation -w "$WORK/dist" "$src" &&
   python3 -m pip install --no-deps --no-index --target "$LSITE" "$WORK"/dist/*.whl; then
  echo "built in $((SECONDS - t0)) s, at $(date -u +%T)"; touch "$LSITE.done"
else
  echo "build failed after $((SECONDS - t0)) s"; touch "$LSITE.failed"
fi
wait
