#!/usr/bin/env bash
# On the GPU machine (no network): PyTorch harness overhead (llem's window vs transformers'
# model.generate called directly, interleaved A/B in one process) on a 1B-class random-weight
# Llama with a static KV cache, batch 16 and batch 4: the runs in docs/benchmarks.md. Outputs in
# $OUT. ~8 min on an H100.
#   PART=overhead bash benchmarks/gpu/run_reuse_and_overhead.sh   # the A/B runs
#   PART=sweep bash benchmarks/gpu/run_reuse_and_overhead.sh      # 12-point sweep, engine reuse off vs on
set -euo pipefail
source "$(dirname "$0")/prepare.sh"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
MODEL=(--model llama3.2-1b --hardware cuda --override model.weights=random --override workload.source=synthetic
       --override backend.cache_implementation=static)
if [ "${PART:-overhead}" = overhead ]; then
  "$PY" benchmarks/harness_overhead.py "${MODEL[@]}" --batch-size 16 --num-prompts 32 --output-tokens 512 \
    --pairs ${PAIRS:-30} 2>&1 | tee "$OUT/overhead_static_bs16.log"
  "$PY" benchmarks/harness_overhead.py "${MODEL[@]}" --batch-size 4 --num-prompts 8 --output-tokens 512 \
    --pairs ${PAIRS:-16} 2>&1 | tee "$OUT/overhead_static_bs4.log"
else
  "$PY" benchmarks/sweep_efficiency.py --model llama3.2-1b --hardware cuda --keep "$OUT/sweep" -- \
    model.weights=random workload.source=synthetic energy.baseline_s=2 2>&1 | tee "$OUT/sweep_efficiency.log"
  find "$OUT/sweep" -name result.json | head -100 > "$OUT/sweep_results.txt"
fi
