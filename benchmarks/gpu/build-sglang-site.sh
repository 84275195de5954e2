#!/usr/bin/env bash
# Build, on a machine with PyPI access, a Python site folder holding SGLang (SGLANG_VERSION, default
# 0.5.17, the newest release that pins torch 2.11.0 with CUDA 13) and what it needs
# beyond the lent H200 image (Python 3.12, torch 2.11.0+cu130, transformers 5.17, triton 3.6, numpy,
# aiohttp, uvloop, pillow ... no network) AND beyond the vLLM 0.26.0 site that
# ../shared/gpu/build-vllm-site.sh builds (flashinfer-python 0.6.14, apache-tvm-ffi 0.1.11, fastapi,
# uvicorn, starlette, pydantic, pyzmq, msgspec, xgrammar 0.2.9, compressed-tensors, gguf, ...).
# 0.5.12-0.5.17 pin torch==2.11.0 with CUDA 13 (0.5.18-0.5.21 pin 2.13, 0.5.22+ pin 2.14.1). 0.5.17 pins
# flashinfer-python 0.6.15.post1 where the vLLM site has 0.6.14: that one goes into this site, which
# comes first on SGLang's PYTHONPATH, so vLLM keeps its own.
# Seen working on an H200 (2026-12-01): llem backend=sglang offline (sglang.Engine) and
# workload=server (python -m sglang.launch_server) with backend.attention_backend=triton.
# What is left out, and why:
#   - sglang-kernel's flash_ops.abi3.so (FA3/FA4 kernels, 1.1 GB, 342 MB packed), sm100/ (Blackwell),
#     flashmla_ops and infllm_ops (MLA / InfLLM models): each is imported lazily or under try. So
#     backend.attention_backend must be a non-FA3 one (flashinfer or triton) on Hopper.
#   - SGLang's optional kernel packages (flash-attn-4, nvidia-cutlass-dsl, tilelang, helion,
#     humming-kernels, quack-kernels, sgl-deep-gemm, tokenspeed_mla, torchao, torch_memory_saver,
#     kernels): needed for FP8/MoE/MLA/Blackwell paths, not for a dense bf16 Llama; imported lazily.
#   - xgrammar 0.2.1 (SGLang's pin, 45 MB): the vLLM site's 0.2.9 has every name SGLang imports.
#   - datasets, modelscope, outlines, py-spy, blobfile, jedi: benchmarks, hubs, optional grammar
#     backend, profiling; not imported on the serving path.
# SGLang pins transformers==5.12.1. The image's transformers 5.17 does NOT work with SGLang 0.5.16
# (seen on an H200, 2026-12-01: importing sglang.srt.configs raises "ValueError: 'qwen3_asr' is
# already used by a Transformers config", since 5.17 ships its own qwen3_asr config). 5.12.1's
# import-time check refuses the image's tokenizers 0.23.2, so the pair transformers 5.12.1 +
# tokenizers 0.22.2 (the newest its <=0.23.0 admits) goes to SITE/_pinned_hf, and SGLang runs with
#   PYTHONPATH=/root/sgsite/_pinned_hf:/root/sgsite:/root/site
# (kept apart so that other engines in the same session keep the image's transformers).
# Output: DEST/p0, DEST/p1 ...: one folder per part (< 61 MiB each), each with a copy of
# stage-sglang-site.sh; the last also holds sgsite.sha256. On the GPU machine, for each folder in
# turn (one call each, back to back): bash DEST/pN/stage-sglang-site.sh DEST/pN
# FA3_DEST (optional): also the FA3 kernels left out above, from the same sglang-kernel wheel, as
# FA3_DEST/p0/flash_ops.zst.part00 and flash_ops.sha256 (of the compressed stream), the layout that
# pack_carries.sh reads as its third stream and stage-fa3.sh unpacks into the site on the GPU machine. zstd -19
# with a 128 MiB window packs the 1.1 GB library to ~142 MB (gzip: 342 MB), in ~9 minutes of one core here.
# Usage: [FA3_DEST=.gpustage/fa3] bash build-sglang-site.sh DEST   (e.g. DEST=.gpustage/sgsite, git-ignored)
set -euo pipefail
DEST=$(mkdir -p "${1:?usage: build-sglang-site.sh DEST}" && cd "$1" && pwd)
PY=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
plat=(--only-binary=:all: --no-deps --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none --platform any)
for n in 5 17 24 26 27 28 31 34; do plat+=(--platform "manylinux_2_${n}_x86_64"); done
plat+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)
dl() { "$PY" -m pip download -q --disable-pip-version-check "${plat[@]}" -d "$1" "${@:2}"; }
SGV=${SGLANG_VERSION:-0.5.17}
dl "$work/w" "sglang==$SGV" sglang-kernel==0.4.5
case "$SGV" in 0.5.17) dl "$work/w" flashinfer-python==0.6.15.post1 ;; esac
# SGLang's own pins where the vLLM site has another version, and module-level imports on the path
# sglang -> Engine / http_server -> scheduler -> model_runner -> llama (read from the 0.5.16 source).
# loguru: compressed-tensors (from the vLLM site) imports it at module level; vLLM never imports that
# module on its dense path, SGLang does (sglang.srt.layers.quantization), so the vLLM site lacks it.
dl "$work/w" openai==2.6.1 openai-harmony==0.0.4 orjson zstandard soundfile==0.13.1 cffi pycparser loguru \
   ipython ipython-pygments-lexers traitlets decorator prompt_toolkit wcwidth pexpect ptyprocess \
   matplotlib-inline stack_data asttokens executing pure_eval
dl "$work/hf" transformers==5.12.1 tokenizers==0.22.2
mkdir -p "$work/sgsite/_pinned_hf"
for w in "$work"/w/*.whl; do
  case "$w" in */sglang_kernel-*) ;; *) (cd "$work/sgsite" && "$PY" -m zipfile -e "$w" .) ;; esac
done
for w in "$work"/hf/*.whl; do (cd "$work/sgsite/_pinned_hf" && "$PY" -m zipfile -e "$w" .); done
"$PY" - "$work"/w/sglang_kernel-*.whl "$work/sgsite" <<'PYX'
import sys, zipfile
skip_files = {"sgl_kernel/flash_ops.abi3.so", "sgl_kernel/flashmla_ops.abi3.so"}
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        name = info.filename
        if name in skip_files or name.startswith("sgl_kernel/sm100/") or name.startswith("sgl_kernel/infllm_ops"):
            continue
        z.extract(info, sys.argv[2])
PYX
find "$work/sgsite" -name __pycache__ -prune -exec rm -rf {} +
if [ -n "${FA3_DEST:-}" ]; then
  fa3=$(mkdir -p "$FA3_DEST" && cd "$FA3_DEST" && pwd); rm -rf "$fa3"/p[0-9]* && mkdir -p "$fa3/p0"
  "$PY" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('sgl_kernel/flash_ops.abi3.so', sys.argv[2])" \
    "$work"/w/sglang_kernel-*.whl "$work/kernel"
  zstd -q -19 -T0 --long=27 "$work/kernel/sgl_kernel/flash_ops.abi3.so" -o "$fa3/p0/flash_ops.zst.part00"
  sha256sum < "$fa3/p0/flash_ops.zst.part00" | cut -d' ' -f1 > "$fa3/p0/flash_ops.sha256"
  rm -rf "$work/kernel"
fi
# zipfile -e drops the executable bit; SGLang runs none of these files as programs.
rm -rf "$DEST"/p[0-9]*
(cd "$work" && tar czf - sgsite) | split -b 60m -d - "$work/sgsite.tgz.part"
parts=("$work"/sgsite.tgz.part*)
for i in "${!parts[@]}"; do
  mkdir -p "$DEST/p$i"; mv "${parts[$i]}" "$DEST/p$i/"; cp "$here/stage-sglang-site.sh" "$DEST/p$i/"
done
cat "$DEST"/p*/sgsite.tgz.part* | sha256sum | cut -d' ' -f1 > "$DEST/p$(( ${#parts[@]} - 1 ))/sgsite.sha256"
ls -la "$DEST"/p*
