#!/usr/bin/env bash
# On the GPU machine (no network): install the wheels carried in .gpuwheels/ (see fetch_wheels.sh),
# then run the energy proof and the overhead benchmark; outputs go to $OUT (default ./gpu-out).
# One command, ~5-7 min on an H100:   OUT=/some/dir bash benchmarks/gpu/run_proof.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

"$PY" -m pip install -q --no-index --no-deps --find-links .gpuwheels -r .gpuwheels/requirements.txt
# llem itself: editable without build isolation (no index here); else straight from the source tree.
if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>"$OUT/pip-llem.log"; then
  echo "editable install failed (see $OUT/pip-llem.log): using PYTHONPATH=$PWD"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
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
