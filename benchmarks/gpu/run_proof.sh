#!/usr/bin/env bash
# On the GPU machine (no network): install the wheels carried in .gpuwheels/ (prepare.sh), then
# run the energy proof and the overhead benchmark; outputs go to $OUT (default ./gpu-out).
# One command, ~5-7 min on an H100:   OUT=/some/dir bash benchmarks/gpu/run_proof.sh
set -euo pipefail
source "$(dirname "$0")/prepare.sh"
{ nvidia-smi -q || true; } > "$OUT/nvidia-smi.txt" 2>&1
{ date -u +%FT%TZ; "$PY" -c "import torch, transformers, pynvml; print('torch', torch.__version__, 'transformers', transformers.__version__)"; } \
  | tee "$OUT/versions.txt"

status=0
# PROOF_ARGS / OVERHEAD_ARGS: extra arguments (used to rehearse this script on a CPU machine).
"$PY" benchmarks/gpu_energy_proof.py --out "$OUT/proof.json" --work-dir "$OUT/proof-runs" --budget-s 270 \
  ${PROOF_ARGS:-} 2>&1 | tee "$OUT/proof.log" || status=$?
"$PY" benchmarks/energy_overhead.py --out "$OUT/overhead.json" --pairs 6 ${OVERHEAD_ARGS:-} \
  2>&1 | tee "$OUT/overhead.log" || status=$?
echo "done (status $status); outputs in $OUT"
exit $status
