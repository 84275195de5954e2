#!/usr/bin/env bash
# On the GPU machine (no network): the overhead benchmark with three arms, then the full llem
# pipeline (CLI, sweep, isolated workers, result files) on a 1B-class random-weight Llama,
# dynamic vs static KV cache. Outputs in $OUT. One command, ~6 min on an H100/H200.
set -euo pipefail
source "$(dirname "$0")/prepare.sh"
"$PY" benchmarks/energy_overhead.py --out "$OUT/overhead.json" --pairs ${PAIRS:-12} 2>&1 | tee "$OUT/overhead.log"
"$PY" -m llem --multirun model=llama3.2-1b model.weights=random hardware=cuda workload=synthetic \
  workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 \
  backend.cache_implementation=dynamic,static run.repeats=5 run.cooldown_s=2 tracking=none \
  run.output_root="$OUT/llem" 2>&1 | tee "$OUT/e2e.log"
for d in "$OUT"/llem/runs/*/; do
  n=$(basename "$d"); cp "$d/result.json" "$OUT/result-$n.json"
done
