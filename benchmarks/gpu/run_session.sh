#!/usr/bin/env bash
# On the GPU machine (no network), after benchmarks/gpu/fetch_wheels.sh here: one session of the
# measurements that prove llem's numbers (docs/measurements.md). PART picks what runs:
#   PART=proof  the aligned-edges proof (benchmarks/gpu_alignment_proof.py), ~4 min
#   PART=rep    repeatability to a 1% interval (benchmarks/repeatability.py --preset gpu), then the
#               roofline / prefill-decode / output-identity example: PyTorch static vs dynamic cache
#               with run.phases=true, and llem report over both, ~5 min
# Outputs (at most a few files) go to $OUT; run dirs are packed into one tarball.
set -uo pipefail
source "$(dirname "$0")/prepare.sh"
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,temperature.gpu --format=csv || true; } > "$OUT/gpu.txt" 2>&1
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" >> "$OUT/gpu.txt"
export LLEM_CACHE_DIR=${LLEM_CACHE_DIR:-/tmp/llem-cache}
case "${PART:-proof}" in
  proof)
    "$PY" benchmarks/gpu_alignment_proof.py --out "$OUT/alignment_proof.json" --work-dir /tmp/align-runs \
      ${ALIGN_ARGS:-} 2>&1 | tee "$OUT/alignment_proof.log"
    tar czf "$OUT/alignment-runs.tgz" -C /tmp align-runs 2>/dev/null || true
    ;;
  rep)
    "$PY" benchmarks/repeatability.py --preset gpu --target 1 --cap 20 --root /tmp/rep-runs \
      --out "$OUT/repeatability.json" 2>&1 | tee "$OUT/repeatability.log"
    # prefill vs decode beside the roofline, on the static-cache configuration (3 windows each)
    "$PY" -m llem model=llama3.2-1b model.weights=random hardware=cuda workload=synthetic workload.input_tokens=128 \
      workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 backend.cache_implementation=static \
      run.phases=true run.repeats=3 tracking=none run.output_root=/tmp/rep-runs 2>&1 | tee "$OUT/edge.log"
    # MBU, phases and output identity (static vs dynamic: the same seeded random weights) over all of them
    "$PY" -m llem report /tmp/rep-runs --no-plots 2>&1 | tee -a "$OUT/edge.log"
    tar czf "$OUT/rep-runs.tgz" -C /tmp rep-runs 2>/dev/null || true
    ;;
esac
echo "done; outputs in $OUT"
