#!/usr/bin/env bash
# On the GPU machine (no network): the fair-comparison and deployed-workload session of
# docs/measurements.md (2026-12-06), run in the background so that it outlives the device calls
# that watch it:
#   setsid bash benchmarks/gpu/run_fair.sh > /dev/null 2>&1 < /dev/null &
#   bash benchmarks/gpu/follow.sh 540          # in this call and the next ones, until "finished"
# Needs: .gpuwheels installed (prepare.sh), the vLLM 0.26 site in /root/site (stage-vllm-site.sh),
# the SGLang site in /root/sgsite (stage-sglang-site.sh), llama-cpp-python and llama-server with CUDA
# in /root/lsite (build_llamacpp.sh; the llama.cpp steps wait for them).
# One random-weight checkpoint (the Llama-3.2-1B shape) for every engine. Steps, in their default order; each has a time limit and never stops the rest; every step is wrapped
# in an independent poller of the energy counter (poll_during.py), which checks each window llem
# measured, server steady states included. STEPS="a b ..." picks steps and their order; OFF_BATCHES
# (default 1,8,64) the offline batch sizes. Nothing is measured while llama.cpp builds: the session
# first waits for build_llamacpp.sh (at most 12 minutes) so that no window shares the host with it.
#   llamacpp-off    llama.cpp offline, batch 1, 8, 64 (sequences decoded together in one batch)
#   llama-server    llama.cpp's own llama-server, concurrency 8 and 64 (text prompts; 720 s: at ~500 tok/s over
#                   8 slots (H100, 2026-12-07) one window of the 128 requests takes ~65 s)
#   llama-server-short  llama-server's two points in less time: concurrency 8 on 64 prompts, 64 on all 128
#   llama-server-c64  llama-server-short's concurrency-64 point alone
#   llama-server-ab where llama-server's step goes (benchmarks/llama_server_step.py: one flag or request field
#                   changed at a time against llem's, 8 greedy requests at once, 3 rounds; not inside the poller)
#   vllm-off        vLLM offline on llama.cpp's offline workload (batch 1, 8, 64; each batch size is a new
#                   engine: ~60 s a start after the first, which compiles for ~140 s, hence 480 s)
#   vllm-server     vLLM server on llama-server's workload (concurrency 8 and 64)
#   prefix-sglang   SGLang server (RadixAttention), synthetic 1024-token prompts,
#                   workload.prefix_share 0/0.5/0.9 at concurrency 64: J/token against the measured
#                   prefix-cache hit rate (vLLM's run of the same points: docs/measurements.md)
#   prefix-sglang-stagger  prefix-sglang's points sent open loop, one request every 25 ms (constant arrivals):
#                   tests why SGLang's radix cache served about half of what the groups offered at concurrency 64
#                   (docs/measurements.md, 2026-12-07): a group's first request should be prefilled, and its prefix
#                   in the radix tree, before the next member arrives
#   sglang-server   SGLang server on llama-server's workload
#   sglang-server-triton  the same on SGLang's triton attention backend (beside its default, FA3 on Hopper)
#   sglang-off      SGLang offline on llama.cpp's offline workload
#   example         the README's example (PyTorch static cache, vLLM, llama.cpp; batch 8 x 256 tokens,
#                   run.phases=true, 3 repeats) into one output root, and its `llem report`
#   turns-vllm      multi-turn sessions (4 turns) on vLLM's server
#   anchor-vllm     vLLM server on the Llama-3.1-8B architecture (random weights), max_num_seqs = concurrency = 8, 64, 128,
#                   256 prompt and 512 output tokens: beside ML.ENERGY v3's published H100 figures (issue 27)
#   structured      JSON-schema output offline (the shipped example schema), vLLM then SGLang, xgrammar on both (issue 27)
#   structured-free structured's prompts unconstrained, exactly 69 output tokens each (the objects' length): the constraint's cost
#   prefix-vllm     vLLM server on prefix-sglang's points (measured on an H100 on 2026-12-06; last)
# Everything lands in $ENG (default /root/eng): out/ (logs, JSON), runs/ (llem output roots).
set -uo pipefail
ENG=${ENG:-/root/eng}; SRC=/root/llem-src; REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$ENG/out" "$ENG/runs"; rm -f "$ENG/finished"
exec >> "$ENG/progress.log" 2>&1
# run from a copy: the next device call rewrites the working tree this script was started from
rm -rf "$SRC" && mkdir -p "$SRC" && tar -C "$REPO" --exclude=./.gpustage --exclude=./.gpuwheels --exclude=./.git -cf - . | tar -C "$SRC" -xf -
cd "$SRC"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1
export SGLANG_DISABLE_USAGE_STATS=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 CUDA_DEVICE_ORDER=PCI_BUS_ID
export LLEM_CACHE_DIR=/tmp/llem-cache NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
BASE=$SRC:$SRC/launchers
VSITE=/root/site; SGSITE=/root/sgsite/_pinned_hf:/root/sgsite:/root/site
R1B="model=llama3.2-1b model.weights=random hardware=cuda tracking=none energy.baseline_s=3"
# 512 distinct text prompts (no two share a first token block, so a prefix cache finds nothing to reuse)
TEXT=$ENG/text_prompts.jsonl
python3 - "$TEXT" <<'PY'
import json, sys
base = [json.loads(l)["prompt"] for l in open("llem/workload/data/prompts.jsonl")]
with open(sys.argv[1], "w") as f:
    for i in range(512):
        f.write(json.dumps({"id": f"t{i}", "prompt": f"Request {i}, part {i % 7}: {base[i % len(base)]} Then: {base[(i * 7 + 3) % len(base)]}"}) + "\n")
PY
PREFIX="workload=server workload.source=synthetic workload.input_tokens=1024 workload.output_tokens=64 workload.num_prompts=256 workload.prefix_group_size=16 workload.prefix_share=0,0.5,0.9 workload.concurrency=64"
OFF="workload=synthetic workload.input_tokens=512 workload.output_tokens=128 workload.num_prompts=64 workload.batch_size=${OFF_BATCHES:-1,8,64}"
SRV1="workload=server workload.source=jsonl workload.path=$TEXT workload.output_tokens=256"
SRV="$SRV1 workload.num_prompts=128 workload.concurrency=8,64"
EXAMPLE="workload=synthetic workload.input_tokens=128 workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 run.phases=true run.repeats=3"
# Multi-turn: each turn of all conversations is one window; 128 conversations x 128 tokens gave ~1.9 s turn windows on an
# H100 (2026-12-07, flagged short_window), so 256 x 192 (~5.5 s at the ~9k tok/s vLLM streamed there)
TURNS="workload=server workload.endpoint=chat workload.source=jsonl workload.path=$TEXT workload.num_prompts=256 workload.turns=4 workload.think_time_s=0.5 workload.output_tokens=192 workload.concurrency=32"
# The anchor against ML.ENERGY v3 (0.455 / 0.119 / 0.095 J/token for Llama-3.1-8B at max_num_seqs 8 / 64 / 128 on an
# H100): the same architecture with random weights, fixed chat-like lengths (their Text Conversation outputs average
# ~717 tokens), the server kept full (concurrency = max_num_seqs, twice as many requests: two waves in steady state)
R8B="model=llama3 model.weights=random hardware=cuda tracking=none energy.baseline_s=3"
ANCHOR="workload=server workload.source=synthetic workload.input_tokens=256 workload.output_tokens=512"
# Structured output: the shipped schema and its prompts (cycled), 8 objects at a time, at most 128 tokens each
STRUCT="workload=structured workload.source=jsonl workload.path=$SRC/llem/workload/data/structured_example.jsonl workload.num_prompts=64 workload.batch_size=8"
FREE="workload=jsonl workload.path=$SRC/llem/workload/data/structured_example.jsonl workload.num_prompts=64 workload.batch_size=8 workload.output_tokens=69"
POLL=(python3 benchmarks/gpu/poll_during.py)
# SGLang's attention backend: its own default (fa3 on Hopper for dense models) where the FA3 kernels are
# staged (build-sglang-site.sh with FA3_DEST, stage-fa3.sh), else triton (flashinfer's JIT outlasted a session's start).
# SGATTN="..." overrides; the step sglang-server-triton runs sglang-server's points on triton beside it.
if [ -z "${SGATTN+x}" ]; then
  if [ -f /root/sgsite/sgl_kernel/flash_ops.abi3.so ]; then SGATTN=""; else SGATTN="backend.attention_backend=triton"; fi
fi

step() {  # step NAME LIMIT_S CMD...: log to out/NAME.log, print its tail, never stop the session
  local name=$1 limit=$2; shift 2  # output root runs/NAME, or STEP_ROOT where steps share one
  local root=${STEP_ROOT:-$ENG/runs/$name}
  echo "=== $name ($(date -u +%T)) limit ${limit} s"
  local t0=$SECONDS
  timeout -k 15 "$limit" "${POLL[@]}" --root "$root" --out "$ENG/out/poll-$name.json" -- \
    python3 -m llem --multirun "$@" run.output_root="$root" > "$ENG/out/$name.log" 2>&1; local rc=$?
  echo "=== $name rc=$rc in $((SECONDS - t0)) s"; tail -n 30 "$ENG/out/$name.log"
}
warm() {  # warm NAME CMD...: one short unmeasured run to fill an engine's on-disk compile caches
  local name=$1 t0=$SECONDS; shift
  [ -f /root/lsite.done ] || [ -f /root/lsite.failed ] || [ $((SECONDS - WAIT0)) -ge 600 ] && return 0
  timeout -k 15 300 python3 -m llem "$@" energy=none run.repeats=1 run.warmup=0 workload.num_prompts=16 \
    workload.output_tokens=16 run.output_root="$ENG/warm/$name" > "$ENG/out/warm-$name.log" 2>&1
  echo "warm $name: rc=$? in $((SECONDS - t0)) s"
}
wait_llamacpp() {
  local t0=$SECONDS
  while [ ! -f /root/lsite.done ] && [ ! -f /root/lsite.failed ] && [ $((SECONDS - WAIT0)) -lt 720 ]; do sleep 3; done
  [ -f /root/lsite.done ] || { echo "llama.cpp build not ready:"; tail -n 30 /root/lcpp-build.log; return 1; }
}

{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,memory.total --format=csv
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  PYTHONPATH=$VSITE python3 -c "import vllm; print('vllm', vllm.__version__)"
  PYTHONPATH=$SGSITE python3 -c "import sglang; print('sglang', sglang.__version__)"
  echo "SGLang attention: ${SGATTN:-the engine default, FA3 kernels staged}"; nproc; } > "$ENG/out/versions.txt" 2>&1
cat "$ENG/out/versions.txt"

WAIT0=$SECONDS
ORDER=${STEPS:-llamacpp-off llama-server vllm-off vllm-server prefix-sglang sglang-server sglang-off turns-vllm prefix-vllm}
wants() { case " $ORDER " in *" $1 "*) return 0 ;; esac; return 1; }
# Warm-up runs fill compile caches while llama.cpp builds (nothing is measured then), for the engines
# that the chosen steps use.
if wants anchor-vllm; then  # the 8B checkpoint is made and vLLM compiles for its shape here, not inside the first anchor step
  export PYTHONPATH=$BASE:$VSITE
  warm anchor-vllm backend=vllm backend.max_model_len=1024 $R8B workload=server workload.concurrency=4
fi
if wants prefix-sglang || wants prefix-sglang-stagger || wants sglang-server || wants sglang-off; then
  export PYTHONPATH=$BASE:$SGSITE
  warm sglang-server backend=sglang $SGATTN backend.context_length=1152 $R1B workload=server workload.concurrency=4
fi
export PYTHONPATH=$BASE:$VSITE
if wants vllm-off; then
  warm vllm-off backend=vllm backend.max_model_len=1024 $R1B workload=synthetic workload.input_tokens=512 workload.batch_size=8
fi
if wants example || wants structured || wants structured-free; then
  warm example-vllm backend=vllm $R1B workload=synthetic workload.input_tokens=128 workload.batch_size=8
fi
if wants vllm-server || wants turns-vllm || wants prefix-vllm; then
  warm vllm-server backend=vllm backend.max_model_len=1024 $R1B workload=server workload.concurrency=4
fi
llamacpp_ok=1  # the build (started beside this session) is waited for before the first measured step
if [ -f /root/lcpp-build.log ]; then
  wait_llamacpp; llamacpp_ok=$?
  echo "llama.cpp build waited for until $((SECONDS - WAIT0)) s into the session"
  [ "$llamacpp_ok" -ne 0 ] || PYTHONPATH=$BASE:/root/lsite:$VSITE python3 -c "import llama_cpp; print('llama-cpp-python', \
    llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())" | tee -a "$ENG/out/versions.txt"
  [ "$llamacpp_ok" -ne 0 ] || cat /root/lsite/bin/llama-server.about /root/lsite/bin/llama-server.version | tee -a "$ENG/out/versions.txt"
  # where llama-server finds ggml's CUDA backend, and which devices it sees (as llem starts it: no LD_LIBRARY_PATH)
  [ "$llamacpp_ok" -ne 0 ] || { ldd /root/lsite/bin/llama-server | grep -E "ggml|llama|cuda"
    timeout 60 /root/lsite/bin/llama-server --list-devices; } 2>&1 | tee -a "$ENG/out/versions.txt"
fi
llamacpp() {
  export PYTHONPATH=$BASE:/root/lsite:$VSITE LLEM_LLAMA_SERVER=/root/lsite/bin/llama-server
  return "$llamacpp_ok"
}
for name in $ORDER; do  # in the order STEPS gives
  case $name in
    llamacpp-off) llamacpp && step llamacpp-off 360 backend=llamacpp $R1B $OFF ;;
    llama-server-ab)  # the random-weight GGUF the llama.cpp steps use, converted first if no step has yet
      llamacpp && {
        gguf=$(ls "$LLEM_CACHE_DIR"/gguf/*-gguf-conv-v2/f16.gguf 2>/dev/null | head -n 1)
        [ -n "$gguf" ] || timeout 600 python3 -m llem backend=llamacpp $R1B workload=synthetic energy=none run.repeats=1 \
          run.warmup=0 workload.num_prompts=1 workload.output_tokens=1 run.output_root="$ENG/warm/ab" > "$ENG/out/warm-ab.log" 2>&1
        gguf=$(ls "$LLEM_CACHE_DIR"/gguf/*-gguf-conv-v2/f16.gguf 2>/dev/null | head -n 1)
        echo "=== llama-server-ab ($(date -u +%T)) on ${gguf:-no GGUF}"
        [ -z "$gguf" ] || timeout -k 15 600 python3 benchmarks/llama_server_step.py "$gguf" --gpu --parallel 8 --tokens 128 \
          --rounds 3 > "$ENG/out/llama-server-ab.log" 2>&1
        echo "=== llama-server-ab rc=$?"; tail -n 12 "$ENG/out/llama-server-ab.log"; } ;;
    llama-server) llamacpp && step llama-server 720 backend=llamacpp backend.server=llama-server $R1B $SRV ;;
    llama-server-short)  # llama-server's points in less device time: concurrency 8 on 64 of the 128 prompts (~30 s windows
      # at ~500 tok/s, H100), concurrency 64 on all 128 (fewer would leave no steady state)
      llamacpp && { STEP_ROOT=$ENG/runs/llama-server step llama-server-c8 300 backend=llamacpp backend.server=llama-server \
        $R1B $SRV1 workload.concurrency=8 workload.num_prompts=64
        STEP_ROOT=$ENG/runs/llama-server step llama-server-c64 300 backend=llamacpp backend.server=llama-server \
        $R1B $SRV1 workload.concurrency=64 workload.num_prompts=128; } ;;
    llama-server-c64)  # llama-server-short's second point alone
      llamacpp && STEP_ROOT=$ENG/runs/llama-server step llama-server-c64 300 backend=llamacpp backend.server=llama-server \
        $R1B $SRV1 workload.concurrency=64 workload.num_prompts=128 ;;
    vllm-off) export PYTHONPATH=$BASE:$VSITE; step vllm-off 480 backend=vllm backend.max_model_len=1024 $R1B $OFF ;;
    vllm-server) export PYTHONPATH=$BASE:$VSITE; step vllm-server 240 backend=vllm backend.max_model_len=1024 $R1B $SRV ;;
    prefix-sglang) export PYTHONPATH=$BASE:$SGSITE; step prefix-sglang 420 backend=sglang $SGATTN backend.context_length=1152 $R1B $PREFIX ;;
    prefix-sglang-stagger) export PYTHONPATH=$BASE:$SGSITE; step prefix-sglang-stagger 420 backend=sglang $SGATTN \
      backend.context_length=1152 $R1B $PREFIX workload.request_rate=40 workload.arrival=constant ;;
    sglang-server) export PYTHONPATH=$BASE:$SGSITE; step sglang-server 240 backend=sglang $SGATTN backend.context_length=1024 $R1B $SRV ;;
    sglang-server-triton) export PYTHONPATH=$BASE:$SGSITE; step sglang-server-triton 240 backend=sglang backend.attention_backend=triton backend.context_length=1024 $R1B $SRV ;;
    sglang-off) export PYTHONPATH=$BASE:$SGSITE; step sglang-off 300 backend=sglang $SGATTN backend.context_length=1024 $R1B $OFF ;;
    turns-vllm) export PYTHONPATH=$BASE:$VSITE; step turns-vllm 180 backend=vllm backend.max_model_len=2048 $R1B $TURNS ;;
    anchor-vllm)  # ML.ENERGY v3's Llama-3.1-8B points on an H100 (vLLM 0.11.1, LMArena chat): one engine per max_num_seqs
      export PYTHONPATH=$BASE:$VSITE
      for n in 8 64 128; do
        STEP_ROOT=$ENG/runs/anchor-vllm step "anchor-vllm-$n" 300 backend=vllm backend.max_model_len=1024 \
          "backend.max_num_seqs=$n" $R8B $ANCHOR "workload.concurrency=$n" "workload.num_prompts=$((2 * n))"
      done ;;
    structured)  # JSON-schema output, offline, vLLM then SGLang (xgrammar on both; any-whitespace off on both: a random
      # model otherwise spends every object's cap on whitespace, seen on CPU)
      export PYTHONPATH=$BASE:$VSITE; STEP_ROOT=$ENG/runs/structured step structured-vllm 300 backend=vllm $R1B $STRUCT \
        ++backend.engine_kwargs.structured_outputs_config.backend=xgrammar \
        ++backend.engine_kwargs.structured_outputs_config.disable_any_whitespace=true
      export PYTHONPATH=$BASE:$SGSITE; STEP_ROOT=$ENG/runs/structured step structured-sglang 300 backend=sglang $SGATTN \
        backend.context_length=1024 $R1B $STRUCT ++backend.engine_kwargs.constrained_json_disable_any_whitespace=true ;;
    structured-free)  # structured's twin without the grammar: the same prompts, 8 at a time, each output exactly 69 tokens
      # (the objects' length on both engines, 2026-12-07), so that J/token against structured's isolates the constraint
      export PYTHONPATH=$BASE:$VSITE; STEP_ROOT=$ENG/runs/structured step structured-free-vllm 300 backend=vllm $R1B $FREE
      export PYTHONPATH=$BASE:$SGSITE; STEP_ROOT=$ENG/runs/structured step structured-free-sglang 300 backend=sglang $SGATTN \
        backend.context_length=1024 $R1B $FREE ;;
    prefix-vllm) export PYTHONPATH=$BASE:$VSITE; step prefix-vllm 420 backend=vllm backend.max_model_len=1152 $R1B $PREFIX ;;
    example)  # the README's example: three engines, one checkpoint, phases and identity (llem report)
      export PYTHONPATH=$BASE:$VSITE; STEP_ROOT=$ENG/runs/example step example-vllm 240 backend=vllm $R1B $EXAMPLE
      llamacpp && STEP_ROOT=$ENG/runs/example step example-llamacpp 200 backend=llamacpp $R1B $EXAMPLE
      export PYTHONPATH=$BASE; STEP_ROOT=$ENG/runs/example step example-pytorch 200 backend=pytorch backend.cache_implementation=static $R1B $EXAMPLE
      python3 -m llem report "$ENG/runs/example" --no-plots --format markdown > "$ENG/out/example-report.md" 2>&1
      echo "=== example report rc=$?"; head -n 40 "$ENG/out/example-report.md" ;;
    *) echo "unknown step $name" ;;
  esac
done
python3 benchmarks/gpu/summarize_results.py "$ENG/runs" > "$ENG/out/summary.md" 2>&1
echo "=== finished $(date -u +%T)"; touch "$ENG/finished"
