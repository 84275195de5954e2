#!/usr/bin/env bash
# On the GPU machine (no network), from a copy of the project with .gpuwheels/ (fetch_wheels.sh),
# after the vLLM 0.26 site (/root/site, ../shared/gpu/build-vllm-site.sh) and the SGLang 0.5.16
# site (/root/sgsite, build-sglang-site.sh) are staged:
#   PART=sglang  bash benchmarks/gpu/run_sglang.sh   # import smoke, llem SGLang offline, then server mode
#   PART=compare bash benchmarks/gpu/run_sglang.sh   # the same workloads in PyTorch (static cache) and vLLM
# Workloads (both 1536-token prompts, 64 output tokens): synthetic random ids (no shared prefix) and
# a JSONL file whose prompts share a 1421-token prefix (make_shared_prefix.py), so the two differ only
# in what a prefix cache can reuse. Outputs under $OUT: one log per step, results.tgz.
set -uo pipefail
source "$(dirname "$0")/prepare.sh"
SRC=$PWD
export HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1 SGLANG_DISABLE_USAGE_STATS=1
SP=${SP:-$SRC/docs/results/2026-12-01-sglang/shared_prefix.jsonl}
LLEM=(python3 -m llem)
MODEL=(model=llama3.2-1b model.weights=random hardware=cuda tracking=none energy.baseline_s=3 run.repeats=3)
OFF=(workload=jsonl workload.path="$SP" workload.num_prompts=8,64 workload.batch_size=8 workload.input_tokens=1536
     workload.output_tokens=64 workload.source=synthetic,jsonl)
SRV=(workload=server workload.path="$SP" workload.num_prompts=32 workload.concurrency=8 workload.input_tokens=1536
     workload.output_tokens=64 workload.source=synthetic,jsonl)
step() {  # step NAME TIMEOUT_S CMD...: run with a time limit, log to $OUT/NAME.log, never stop the script
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date -u +%T)) $*"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1; local rc=$?
  echo "=== $name rc=$rc in $((SECONDS - t0)) s"; tail -n 25 "$OUT/$name.log"
}
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,power.limit,memory.total --format=csv; } | tee "$OUT/versions.txt"

if [ "${PART:-sglang}" = sglang ]; then
  # SGLang's transformers pin (5.12.1 + tokenizers 0.22.2): the image's 5.17 fails (build-sglang-site.sh).
  SITE=/root/sgsite/_pinned_hf:/root/sgsite:/root/site
  SMOKE='import sglang, sgl_kernel, transformers, flashinfer, sglang.srt.entrypoints.engine, sglang.srt.entrypoints.http_server
import sglang.srt.managers.scheduler, sglang.srt.model_executor.model_runner, sglang.srt.models.llama
print("sglang", sglang.__version__, "sgl_kernel", sgl_kernel.__version__, "transformers", transformers.__version__, "flashinfer", flashinfer.__version__)'
  PYTHONPATH=$SRC:$SRC/launchers:$SITE step smoke 120 python3 -c "$SMOKE"
  export PYTHONPATH=$SRC:$SRC/launchers:$SITE
  grep -h "^sglang" "$OUT/smoke.log" | tee -a "$OUT/versions.txt"
  step sglang-offline ${T_OFF:-300} "${LLEM[@]}" --multirun backend=sglang backend.attention_backend=${ATTN:-triton} \
    backend.context_length=1664 "${MODEL[@]}" "${OFF[@]}" run.output_root="$OUT/llem/sglang-offline" ${EXTRA:-}
  step sglang-server ${T_SRV:-240} "${LLEM[@]}" --multirun backend=sglang backend.attention_backend=${ATTN:-triton} \
    backend.context_length=1664 "${MODEL[@]}" "${SRV[@]}" run.output_root="$OUT/llem/sglang-server" ${EXTRA:-}
else
  export PYTHONPATH=$SRC:$SRC/launchers
  step pytorch-offline ${T_PT:-200} "${LLEM[@]}" --multirun backend=pytorch backend.cache_implementation=static \
    "${MODEL[@]}" "${OFF[@]}" run.output_root="$OUT/llem/pytorch-offline"
  export PYTHONPATH=$SRC:$SRC/launchers:/root/site
  step vllm-offline ${T_VO:-300} "${LLEM[@]}" --multirun backend=vllm backend.max_model_len=1664 \
    "${MODEL[@]}" "${OFF[@]}" run.output_root="$OUT/llem/vllm-offline"
  [ -n "${VLLM_SERVER:-}" ] && step vllm-server ${T_VS:-200} "${LLEM[@]}" --multirun backend=vllm backend.max_model_len=1664 \
    "${MODEL[@]}" "${SRV[@]}" run.output_root="$OUT/llem/vllm-server"
fi
python3 "$SRC/benchmarks/gpu/summarize_results.py" "$OUT/llem" | tee "$OUT/summary.md"
(cd "$OUT" && tar czf results.tgz --exclude='*.safetensors' llem 2>/dev/null; rm -rf llem)
ls -la "$OUT"
