# Sourced by the GPU scripts (run_proof.sh, run_e2e.sh, run_reuse_and_overhead.sh) on the GPU
# machine, which has no network: go to the repo root, set OUT (default ./gpu-out) and PY, install
# the wheels carried in .gpuwheels/ (see fetch_wheels.sh) and llem itself (editable without build
# isolation; else straight from the source tree through PYTHONPATH).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-$PWD/gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_BREAK_SYSTEM_PACKAGES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
"$PY" -m pip install -q --no-index --no-deps --find-links .gpuwheels -r .gpuwheels/requirements.txt
if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>"$OUT/pip-llem.log"; then
  echo "editable install failed (see $OUT/pip-llem.log): using PYTHONPATH=$PWD"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
