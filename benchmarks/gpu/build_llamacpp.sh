#!/usr/bin/env bash
# On the GPU machine (no network): build llama-cpp-python with CUDA from a trimmed sdist (the
# llama-cpp-python sdist with vendor/llama.cpp/{models,docs,benches,tests,examples,media} removed,
# see ../shared/gpu/README.md) into a wheel, and install it into LSITE (default /root/lsite).
# Meant to run in the background (setsid) while other staging goes on: it leaves LSITE.done or
# LSITE.failed beside LSITE, and its log in /root/lcpp-build.log.
#   setsid bash benchmarks/gpu/build_llamacpp.sh .gpustage/lcpp/llama_cpp_python-0.3.36-trim.tar.gz &
set -uo pipefail
SDIST=$(realpath "${1:?usage: build_llamacpp.sh SDIST.tar.gz}")
LSITE=${LSITE:-/root/lsite}; WORK=/root/lcpp-build
exec > /root/lcpp-build.log 2>&1
rm -rf "$WORK" "$LSITE.done" "$LSITE.failed" && mkdir -p "$WORK" && tar xzf "$SDIST" -C "$WORK"
src=$(ls -d "$WORK"/llama_cpp_python-*/)
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-16}
t0=$SECONDS
if python3 -m pip wheel -v --no-deps --no-build-isolation -w "$WORK/dist" "$src" &&
   python3 -m pip install --no-deps --no-index --target "$LSITE" "$WORK"/dist/*.whl; then
  echo "built in $((SECONDS - t0)) s, at $(date -u +%T)"; touch "$LSITE.done"
else
  echo "build failed after $((SECONDS - t0)) s"; touch "$LSITE.failed"
fi
