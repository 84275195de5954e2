#!/usr/bin/env bash
# Here (not on the GPU machine): repack the vLLM site's parts (../shared/gpu/build-vllm-site.sh) and the
# SGLang site's parts (build-sglang-site.sh) into as few carries as the per-call limit allows. A call
# carries at most 64 MiB with the working tree included, and the tree (docs/results/ above all) takes a few
# MB, so a 61 MB part no longer fits beside it (2026-12-06: refused). Each carry DEST/cN holds byte
# ranges of the two tarball streams, named so that the stage scripts' `cat part*` glob order rebuilds
# them, the sha files and the stage scripts; on the GPU machine, one call per carry, in order:
#   bash DEST/cN/stage-vllm-site.sh DEST/cN; bash DEST/cN/stage-sglang-site.sh DEST/cN; bash DEST/cN/stage-fa3.sh DEST/cN
# (each is idempotent and unpacks once its sha file and all parts are there). FA3_PARTS_DIR (optional,
# build-sglang-site.sh with FA3_DEST) adds SGLang's FlashAttention-3 kernels as a third stream after the other two.
# Usage: bash benchmarks/gpu/pack_carries.sh VLLM_PARTS_DIR SGLANG_PARTS_DIR DEST [FA3_PARTS_DIR]
set -euo pipefail
VDIR=${1:?usage: pack_carries.sh VLLM_PARTS_DIR SGLANG_PARTS_DIR DEST [FA3_PARTS_DIR]}; SDIR=${2:?}; DEST=${3:?}; FDIR=${4:-}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
tree=$(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
limit=$((64 * 1024 * 1024 - tree - 2 * 1024 * 1024))  # 2 MiB for the scripts, the sha files and growth
echo "tree ${tree} bytes: at most ${limit} bytes of parts per carry"
rm -rf "$DEST" && mkdir -p "$DEST"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat "$VDIR"/p*/vsite.tgz.part* > "$work/vsite.tgz"; cat "$SDIR"/p*/sgsite.tgz.part* > "$work/sgsite.tgz"
[ "$(sha256sum < "$work/vsite.tgz" | cut -d' ' -f1)" = "$(cat "$VDIR"/p*/vsite.sha256)" ] || { echo "vLLM parts do not add up"; exit 1; }
[ "$(sha256sum < "$work/sgsite.tgz" | cut -d' ' -f1)" = "$(cat "$SDIR"/p*/sgsite.sha256)" ] || { echo "SGLang parts do not add up"; exit 1; }
streams=(vsite.tgz sgsite.tgz)
if [ -n "$FDIR" ]; then
  cat "$FDIR"/p*/flash_ops.zst.part* > "$work/flash_ops.zst"; streams+=(flash_ops.zst)
  [ "$(sha256sum < "$work/flash_ops.zst" | cut -d' ' -f1)" = "$(cat "$FDIR"/p*/flash_ops.sha256)" ] || { echo "FA3 parts do not add up"; exit 1; }
fi
carry=0; room=$limit
for file in "${streams[@]}"; do  # fill each carry to the limit: the vLLM stream first, then SGLang's, then FA3
  stream=${file%%.*}
  size=$(stat -c %s "$work/$file"); off=0; n=0
  while [ "$off" -lt "$size" ]; do
    [ "$room" -gt 0 ] || { carry=$((carry + 1)); room=$limit; }
    take=$(( size - off < room ? size - off : room ))
    mkdir -p "$DEST/c$carry"
    dd if="$work/$file" of="$DEST/c$carry/$file.part$(printf %02d "$n")" bs=1M \
       iflag=skip_bytes,count_bytes skip="$off" count="$take" status=none
    off=$((off + take)); room=$((room - take)); n=$((n + 1))
  done
  case $stream in  # the sha file goes with the stream's last part: that call unpacks it
    vsite) cp "$VDIR"/p*/vsite.sha256 "$DEST/c$carry/" ;;
    sgsite) cp "$SDIR"/p*/sgsite.sha256 "$DEST/c$carry/" ;;
    flash_ops) cp "$FDIR"/p*/flash_ops.sha256 "$DEST/c$carry/" ;;
  esac
done
vstage=$(ls "$VDIR"/p*/stage-vllm-site.sh | head -n 1)
for c in "$DEST"/c*; do cp "$vstage" "$REPO/benchmarks/gpu/stage-sglang-site.sh" "$REPO/benchmarks/gpu/stage-fa3.sh" "$c/"; done
du -sb "$DEST"/c*
