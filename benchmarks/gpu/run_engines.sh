#!/usr/bin/env bash
# On the GPU machine (no network): the engine session of docs/measurements.md ("vLLM and llama.cpp
# on the H200"), run in the background so that it outlives the device calls that watch it:
#   setsid bash benchmarks/gpu/run_engines.sh > /dev/null 2>&1 < /dev/null &
#   bash benchmarks/gpu/follow.sh 540          # in this call and the next ones, until "finished"
# Needs: .gpuwheels installed (prepare.sh), the vLLM 0.26 site in /root/site (stage-vllm-site.sh),
# llama-cpp-python with CUDA in /root/lsite (build_llamacpp.sh; the llama.cpp steps wait for it).
# Steps, most important first (STEPS picks a subset); each has a time limit and never stops the
# rest; vLLM and llama.cpp runs are wrapped in an independent poller of the energy counter
# (poll_during.py), so their windows are checked against it as the alignment proof's are:
#   vllm-rep       repeatability to a 1% interval: batch 64 x 256 (power-capped on an H200) and x 128
#   llamacpp-rep   the same for llama.cpp CUDA (8 requests x 256 tokens, one at a time)
#   vllm-server    vLLM's OpenAI server, 1536-token synthetic and shared-prefix prompts (the one-table)
#   llamacpp-table llama.cpp offline and server on the one-table's workloads
#   example        MBU, prefill/decode split and output identity: PyTorch, vLLM, llama.cpp, one checkpoint
#   loadgen        the sharded load generator against the paced server (CPU only; GPU idle)
# Everything lands in $ENG (default /root/eng): out/ (logs, JSON), runs/ (llem output roots).
set -uo pipefail
ENG=${ENG:-/root/eng}; SRC=/root/llem-src; REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$ENG/out" "$ENG/runs"; rm -f "$ENG/finished"
exec >> "$ENG/progress.log" 2>&1
# run from a copy: the next device call rewrites the working tree this script was started from
rm -rf "$SRC" && mkdir -p "$SRC" && tar -C "$REPO" --exclude=./.gpustage --exclude=./.gpuwheels --exclude=./.git -cf - . | tar -C "$SRC" -xf -
cd "$SRC"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 CUDA_DEVICE_ORDER=PCI_BUS_ID LLEM_CACHE_DIR=/tmp/llem-cache
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
BASE=$SRC:$SRC/launchers
R1B="model=llama3.2-1b model.weights=random hardware=cuda tracking=none"
SYN="workload=synthetic workload.input_tokens=128"
SP=$SRC/docs/results/2026-12-01-sglang/shared_prefix.jsonl
TABLE_OFF="workload=jsonl workload.path=$SP workload.num_prompts=64 workload.batch_size=8 workload.input_tokens=1536 workload.output_tokens=64 workload.source=synthetic,jsonl"
TABLE_SRV="workload=server workload.path=$SP workload.num_prompts=32 workload.concurrency=8 workload.input_tokens=1536 workload.output_tokens=64 workload.source=synthetic,jsonl"
TABLE_SRV_TEXT=${TABLE_SRV%,jsonl}; TABLE_SRV_TEXT=${TABLE_SRV_TEXT/source=synthetic/source=jsonl}  # llama.cpp's server takes text only
EXAMPLE="$SYN workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 run.phases=true run.repeats=3"
POLL=(python3 benchmarks/gpu/poll_during.py)
REP=(python3 benchmarks/repeatability.py --target 1 --cap 20)

step() {  # step NAME LIMIT_S CMD...: log to out/NAME.log, print its tail, never stop the session
  local name=$1 limit=$2; shift 2
  case " ${STEPS:-vllm-rep llamacpp-rep vllm-server llamacpp-table example loadgen} " in *" ${name%%:*} "*) ;; *) return 0 ;; esac
  echo "=== $name ($(date -u +%T)) limit ${limit} s"
  local t0=$SECONDS
  timeout -k 15 "$limit" "$@" > "$ENG/out/${name//:/-}.log" 2>&1; local rc=$?
  echo "=== $name rc=$rc in $((SECONDS - t0)) s"; tail -n 30 "$ENG/out/${name//:/-}.log"
}
wait_llamacpp() {
  local t0=$SECONDS
  while [ ! -f /root/lsite.done ] && [ ! -f /root/lsite.failed ] && [ $((SECONDS - t0)) -lt 420 ]; do sleep 3; done
  [ -f /root/lsite.done ] || { echo "llama.cpp build not ready:"; tail -n 30 /root/lcpp-build.log; return 1; }
}

{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,memory.total --format=csv
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  PYTHONPATH=/root/site python3 -c "import vllm; print('vllm', vllm.__version__)"; nproc; } > "$ENG/out/versions.txt" 2>&1
cat "$ENG/out/versions.txt"

export PYTHONPATH=$BASE:/root/site
step vllm-rep 560 "${POLL[@]}" --root "$ENG/runs/rep-vllm" --out "$ENG/out/poll-vllm-rep.json" -- "${REP[@]}" \
  --root "$ENG/runs/rep-vllm" --out "$ENG/out/rep-vllm.json" \
  --config "$R1B $SYN backend=vllm workload.batch_size=64 workload.num_prompts=64 workload.output_tokens=256" \
  --config "$R1B $SYN backend=vllm workload.batch_size=64 workload.num_prompts=64 workload.output_tokens=128"

if wait_llamacpp; then
  export PYTHONPATH=$BASE:/root/lsite:/root/site
  python3 -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())" | tee -a "$ENG/out/versions.txt"
  step llamacpp-rep 420 "${POLL[@]}" --root "$ENG/runs/rep-llamacpp" --out "$ENG/out/poll-llamacpp-rep.json" -- "${REP[@]}" \
    --root "$ENG/runs/rep-llamacpp" --out "$ENG/out/rep-llamacpp.json" \
    --config "$R1B $SYN backend=llamacpp workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256"
fi

export PYTHONPATH=$BASE:/root/site
step vllm-server 300 "${POLL[@]}" --root "$ENG/runs/table-vllm-server" --out "$ENG/out/poll-vllm-server.json" -- \
  python3 -m llem --multirun backend=vllm backend.max_model_len=1664 $R1B $TABLE_SRV run.output_root="$ENG/runs/table-vllm-server"

if [ -f /root/lsite.done ]; then
  export PYTHONPATH=$BASE:/root/lsite:/root/site
  step llamacpp-table:offline 300 "${POLL[@]}" --root "$ENG/runs/table-llamacpp" --out "$ENG/out/poll-llamacpp-table.json" -- \
    python3 -m llem --multirun backend=llamacpp $R1B $TABLE_OFF run.output_root="$ENG/runs/table-llamacpp"
  step llamacpp-table:server 240 "${POLL[@]}" --root "$ENG/runs/table-llamacpp-server" --out "$ENG/out/poll-llamacpp-server.json" -- \
    python3 -m llem --multirun backend=llamacpp $R1B $TABLE_SRV_TEXT run.output_root="$ENG/runs/table-llamacpp-server"
  step example:llamacpp 200 python3 -m llem backend=llamacpp $R1B $EXAMPLE run.output_root="$ENG/runs/example"
fi
export PYTHONPATH=$BASE:/root/site
step example:vllm 240 python3 -m llem backend=vllm $R1B $EXAMPLE run.output_root="$ENG/runs/example"
export PYTHONPATH=$BASE
step example:pytorch 200 python3 -m llem backend=pytorch backend.cache_implementation=static $R1B $EXAMPLE run.output_root="$ENG/runs/example"
step example:report 120 python3 -m llem report "$ENG/runs/example" --no-plots

export PYTHONPATH=$BASE:/root/site
step loadgen 200 python3 benchmarks/loadgen_capacity.py --gap-ms 5 --concurrency 256,512,1024 --server-processes 8 --processes 4

PYTHONPATH=$BASE python3 benchmarks/gpu/summarize_results.py "$ENG/runs" > "$ENG/out/summary.md" 2>&1
cat "$ENG/out/summary.md"
echo "=== finished $(date -u +%T)"
touch "$ENG/finished"
