#!/usr/bin/env bash
# Issue 19 on a machine with two GPUs (kind nvidia-h200-x2), after benchmarks/gpu/fetch_wheels.sh
# here; NOT RUN YET. An independent process polls both GPUs' energy counters for the whole session
# (benchmarks/two_gpu_check.py poll); at the end every window's per-GPU joules are compared with it.
# PART picks what runs (default: all, ~15-20 min with vLLM's first compile):
#   tp       one job over both GPUs: PyTorch device_map=auto, and vLLM tensor_parallel_size=2
#            (vLLM needs the site of ../shared/gpu/ staged in /root/site first)
#   parallel two jobs at once on hardware.gpus=[0] and [1] (hydra/launcher=local parallel=true),
#            then the same two alone, one after the other
#   visible  CUDA_VISIBLE_DEVICES as "1,0" (non-identity order), as GPU 1's UUID, and as a short
#            prefix of it: each must meter the GPU that computes (meter cuda_check: match)
# NVLink multicast stays off throughout (the machine's rule; llem also sets these for jobs spanning
# GPUs, llem/host/multicast.py). Outputs: $OUT/two_gpu_check.json, logs, and the run dirs as one tarball.
set -uo pipefail
source "$(dirname "$0")/prepare.sh"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export LLEM_CACHE_DIR=${LLEM_CACHE_DIR:-/tmp/llem-cache}
ROOT=/tmp/two-gpu-runs
mkdir -p "$ROOT"
{ nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version,power.limit --format=csv || true; nvidia-smi topo -m || true; } > "$OUT/gpu.txt" 2>&1
"$PY" -c "import torch; n = torch.cuda.device_count(); print('torch', torch.__version__, 'cuda devices', n); assert n >= 2, 'needs two GPUs'" \
  >> "$OUT/gpu.txt" 2>&1 || { cat "$OUT/gpu.txt"; echo "fewer than two GPUs visible: nothing run"; exit 1; }

"$PY" benchmarks/two_gpu_check.py poll --out "$OUT/poll.csv" &
POLLER=$!
trap 'kill "$POLLER" 2>/dev/null; wait "$POLLER" 2>/dev/null' EXIT
sleep 2

# One workload for every job: long enough windows (>= 5 s) that one counter step per edge is ~4%.
JOB=(model=llama3.2-1b model.weights=random hardware=cuda workload=synthetic workload.input_tokens=128
     workload.output_tokens=128 workload.batch_size=16 workload.num_prompts=64 run.repeats=5 run.warmup=1
     run.min_window_s=5 tracking=none run.quiet=true)
llem() { "$PY" -m llem "$@"; }
PART=${PART:-all}

if [[ $PART == all || $PART == tp ]]; then
  llem "${JOB[@]}" hardware.gpu_count=2 backend.device_map=auto run.output_root=$ROOT/tp-pytorch 2>&1 | tee "$OUT/tp-pytorch.log"
  if [[ -d /root/site ]]; then
    PYTHONPATH=/root/site${PYTHONPATH:+:$PYTHONPATH} llem "${JOB[@]}" backend=vllm hardware.gpu_count=2 \
      backend.tensor_parallel_size=2 run.output_root=$ROOT/tp-vllm 2>&1 | tee "$OUT/tp-vllm.log"
  else
    echo "no vLLM site in /root/site: vLLM tensor_parallel_size=2 not run" | tee "$OUT/tp-vllm.log"
  fi
fi

if [[ $PART == all || $PART == parallel ]]; then
  llem --multirun hydra/launcher=local hydra.launcher.parallel=true "${JOB[@]}" 'hardware.gpus=[0],[1]' \
    run.output_root=$ROOT/parallel 2>&1 | tee "$OUT/parallel.log"
  llem --multirun hydra/launcher=local "${JOB[@]}" 'hardware.gpus=[0],[1]' \
    run.output_root=$ROOT/alone 2>&1 | tee "$OUT/alone.log"
  # each job's J/token and its 95% CI, in parallel and alone (issue 19: alone within the CI of parallel)
  llem report $ROOT/parallel $ROOT/alone --no-plots 2>&1 | tee "$OUT/parallel-vs-alone.txt"
fi

if [[ $PART == all || $PART == visible ]]; then
  UUID1=$(nvidia-smi --query-gpu=uuid --format=csv,noheader -i 1 | tr -d ' ')
  CUDA_VISIBLE_DEVICES=1,0 llem "${JOB[@]}" run.repeats=3 run.output_root=$ROOT/visible-order 2>&1 | tee "$OUT/visible-order.log"
  CUDA_VISIBLE_DEVICES=$UUID1 llem "${JOB[@]}" run.repeats=3 run.output_root=$ROOT/visible-uuid 2>&1 | tee "$OUT/visible-uuid.log"
  CUDA_VISIBLE_DEVICES=${UUID1:0:12} llem "${JOB[@]}" run.repeats=3 run.output_root=$ROOT/visible-prefix 2>&1 | tee "$OUT/visible-prefix.log"
  CUDA_VISIBLE_DEVICES=1,0 llem "${JOB[@]}" run.repeats=3 'hardware.gpus=[1]' run.output_root=$ROOT/visible-order-gpus1 2>&1 | tee "$OUT/visible-order-gpus1.log"
  echo "expected: visible-order, -uuid, -prefix meter $UUID1; visible-order-gpus1 meters GPU 0" | tee "$OUT/visible-expected.txt"
fi

kill "$POLLER"; wait "$POLLER" 2>/dev/null; trap - EXIT
"$PY" benchmarks/two_gpu_check.py check --poll "$OUT/poll.csv" --out "$OUT/two_gpu_check.json" $ROOT 2>&1 | tee "$OUT/two_gpu_check.txt"
# the per-GPU UUIDs and the CUDA cross-check each job recorded, and the sweep's overlap record
"$PY" - "$ROOT" <<'PY' 2>&1 | tee "$OUT/devices.txt"
import json, sys
from pathlib import Path
root = Path(sys.argv[1])
for p in sorted(root.glob("**/runs/*/result.json")):
    r = json.loads(p.read_text())
    m = r.get("energy", {}).get("meter", {})
    devs = next((q.get("devices") for q in m.get("parts", [m]) if q.get("meter") == "nvml"), {})
    print(p.relative_to(root).parts[0], r["identity"]["run_id"], {k: (d.get("uuid"), d.get("cuda_check")) for k, d in devs.items()},
          [f for f in r.get("validity", {}).get("flags", []) if f.startswith("gpu_mapping")])
for p in sorted(root.glob("**/llem_sweep_summary.json")):
    print(p.relative_to(root), "concurrent_windows:", len(json.loads(p.read_text()).get("concurrent_windows") or []))
PY
du -sh "$ROOT"; (cd /tmp && find two-gpu-runs -name '*.json' -o -name '*.yaml' -o -name '*.csv' | tar czf "$OUT/two-gpu-runs.tgz" -T -) || true
echo "done; outputs in $OUT (results go to docs/measurements.md with card, driver and date)"
