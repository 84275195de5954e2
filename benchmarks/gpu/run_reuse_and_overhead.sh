#!/usr/bin/env bash
# On the GPU machine (no network): PyTorch harness overhead (llem's window vs transformers'
# model.generate called directly, interleaved A/B in one process) at batch 8 and batch 1, on a
# 1B-class random-weight Llama. Outputs in $OUT. ~6 min on an H100.
#   PART=overhead bash benchmarks/gpu/run_reuse_and_overhead.sh   # the A/B runs
#   PART=sweep bash benchmarks/gpu/run_reuse_and_overhead.sh      # 12-point sweep, engine reuse off vs on
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
"$PY" -m pip install -q --no-index --no-deps --find-links .gpuwheels -r .gpuwheels/requirements.txt
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null 2>&1 || export PYTHONPATH="$PWD"
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
MODEL=(--model llama3.2-1b --hardware cuda --override model.weights=random --override workload.source=synthetic)
if [ "${PART:-overhead}" = overhead ]; then
  "$PY" benchmarks/harness_overhead.py "${MODEL[@]}" --batch-size 8 --num-prompts 16 --output-tokens 128 \
    --pairs ${PAIRS:-15} 2>&1 | tee "$OUT/harness_overhead_bs8.log"
  "$PY" benchmarks/harness_overhead.py "${MODEL[@]}" --batch-size 1 --num-prompts 4 --output-tokens 128 \
    --pairs ${PAIRS:-10} 2>&1 | tee "$OUT/harness_overhead_bs1.log"
else
  "$PY" benchmarks/sweep_efficiency.py --model llama3.2-1b --hardware cuda --keep "$OUT/sweep" -- \
    model.weights=random workload.source=synthetic energy.baseline_s=2 2>&1 | tee "$OUT/sweep_efficiency.log"
  find "$OUT/sweep" -name result.json | head -100 > "$OUT/sweep_results.txt"
fi
