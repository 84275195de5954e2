#!/usr/bin/env bash
# On the GPU machine (no network): the aligned-edges proof (benchmarks/gpu_alignment_proof.py):
# an independent process polls the NVML energy counter while llem measures short (<= 1 s) and long
# (>= 5 s) PyTorch windows with energy.align_edges on and off. Outputs go to $OUT (default ./gpu-out).
#   OUT=/some/dir bash benchmarks/gpu/run_alignment_proof.sh            # ~6-8 min on an H200
#   ALIGN_ARGS=--vllm bash benchmarks/gpu/run_alignment_proof.sh         # add vLLM at batch 64 (power-capped)
set -euo pipefail
source "$(dirname "$0")/prepare.sh"
{ nvidia-smi -q || true; } > "$OUT/nvidia-smi.txt" 2>&1
{ date -u +%FT%TZ; "$PY" -c "import torch, transformers, pynvml; print('torch', torch.__version__, 'transformers', transformers.__version__)"; } \
  | tee "$OUT/versions.txt"
status=0
"$PY" benchmarks/gpu_alignment_proof.py --out "$OUT/alignment_proof.json" --work-dir "$OUT/alignment-runs" \
  ${ALIGN_ARGS:-} 2>&1 | tee "$OUT/alignment_proof.log" || status=$?
echo "done (status $status); outputs in $OUT"
exit $status
