#!/usr/bin/env bash
# On the GPU machine (no network): build llama.cpp with CUDA ONCE, from the vendored source of a
# trimmed llama-cpp-python sdist (vendor/llama.cpp/{models,docs,benches,tests,examples,media}
# removed, see ../shared/gpu/README.md), and make both of llem's llama.cpp paths use that one build:
#   - the bindings: llama-cpp-python's pure-Python package goes to LSITE/llama_cpp and its lib/ holds
#     the shared libraries of this build (libllama, libggml*, libmtmd), where the bindings look first;
#   - the server: llama.cpp's own llama-server, linked against the same libraries, in LSITE/bin (use
#     it as LLEM_LLAMA_SERVER=LSITE/bin/llama-server with backend.server=llama-server).
# One build instead of two (the wheel and the server each compiled ggml-cuda: on 16 vCPUs the pair
# reached half-way in 9 minutes, 2026-12-06). Meant to run in the background (setsid) in a call of
# its own, before any measurement (a build beside a measured engine slows it): it leaves LSITE.done
# or LSITE.failed (and LSITE.server.done / .server.failed) beside LSITE, its log in
# /root/lcpp-build.log.
#   setsid bash benchmarks/gpu/build_llamacpp.sh .gpustage/lcpp/llama_cpp_python-0.3.36-trim.tar.gz &
set -uo pipefail
SDIST=$(realpath "${1:?usage: build_llamacpp.sh SDIST.tar.gz}")
LSITE=${LSITE:-/root/lsite}; WORK=/root/lcpp-build
exec > /root/lcpp-build.log 2>&1
rm -rf "$WORK" "$LSITE" "$LSITE".done "$LSITE".failed "$LSITE".server.done "$LSITE".server.failed
mkdir -p "$WORK" "$LSITE/bin" && tar xzf "$SDIST" -C "$WORK"
src=$(ls -d "$WORK"/llama_cpp_python-*/)
t0=$SECONDS
if cmake -S "$src/vendor/llama.cpp" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
     -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF \
     -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF \
     -DLLAMA_OPENSSL=OFF &&
   cmake --build "$WORK/build" --target llama-server llama mtmd -j "${JOBS:-$(nproc)}"; then
  cp -r "$src/llama_cpp" "$LSITE/" && mkdir -p "$LSITE/llama_cpp/lib" &&
    find "$WORK/build" -name 'lib*.so*' -exec cp -P {} "$LSITE/llama_cpp/lib/" \; &&
    cp "$WORK/build/bin/llama-server" "$LSITE/bin/" &&
    LD_LIBRARY_PATH="$LSITE/llama_cpp/lib" "$LSITE/bin/llama-server" --version > "$LSITE/bin/llama-server.about" 2>&1 &&
    # the stamp llem reads (llem/backends/llamacpp/llama_server.py version), as .ci/install.d/30-llamacpp.sh writes it:
    # the llama-cpp-python release whose vendored llama.cpp this is, then how it was built
    echo "$(basename "$src" | sed 's/^llama_cpp_python-//') cuda-sm90" > "$LSITE/bin/llama-server.version"
  ok=$?
else
  ok=1
fi
if [ "$ok" -eq 0 ] && PYTHONPATH="$LSITE" python3 -c "import llama_cpp; assert llama_cpp.llama_supports_gpu_offload()"; then
  echo "llama.cpp (bindings and llama-server) built in $((SECONDS - t0)) s, at $(date -u +%T)"
  touch "$LSITE.done" "$LSITE.server.done"
else
  echo "build failed after $((SECONDS - t0)) s"; touch "$LSITE.failed" "$LSITE.server.failed"
fi
