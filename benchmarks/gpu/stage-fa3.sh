#!/usr/bin/env bash
# On the GPU machine: copy the FA3 parts in CHUNK_DIR (flash_ops.zst.partNN, maybe flash_ops.sha256) to
# STAGE (default /root/fa3-stage); once the sha file has come, the parts add up to it and the SGLang site
# is unpacked (stage-sglang-site.sh), decompress sgl_kernel/flash_ops.abi3.so into the site. With it,
# SGLang's default attention backend on Hopper (fa3) runs. Idempotent: safe to call once per carry, and
# once more with no new part after the SGLang site is unpacked.
# Decompresses with the zstd tool if there is one, else with the zstandard module of the SGLang site.
# Usage: bash stage-fa3.sh CHUNK_DIR
set -euo pipefail
STAGE=${STAGE:-/root/fa3-stage}; SITE=${SITE:-/root/sgsite}
mkdir -p "$STAGE"
cp -n "${1:?usage: stage-fa3.sh CHUNK_DIR}"/flash_ops.* "$STAGE"/ 2>/dev/null || true
lib=$SITE/sgl_kernel/flash_ops.abi3.so
if [ -f "$lib" ]; then echo "FA3 kernels already in $lib"; exit 0; fi
[ -f "$STAGE/flash_ops.sha256" ] || { echo "FA3: staged; waiting for the sha file and the remaining parts"; exit 0; }
sum=$(cat "$STAGE"/flash_ops.zst.part* | sha256sum | cut -d' ' -f1)
[ "$sum" = "$(cat "$STAGE/flash_ops.sha256")" ] || { echo "FA3: staged; parts incomplete (sum differs)"; exit 0; }
[ -d "$SITE/sgl_kernel" ] || { echo "FA3: parts complete; waiting for the SGLang site in $SITE"; exit 0; }
if command -v zstd > /dev/null; then
  cat "$STAGE"/flash_ops.zst.part* | zstd -q -d --long=27 -o "$lib.tmp"
else
  cat "$STAGE"/flash_ops.zst.part* | PYTHONPATH=$SITE python3 -c "
import sys, zstandard
with open(sys.argv[1], 'wb') as out: zstandard.ZstdDecompressor().copy_stream(sys.stdin.buffer, out)" "$lib.tmp"
fi
mv "$lib.tmp" "$lib"
echo "FA3 kernels unpacked into $lib ($(stat -c %s "$lib") bytes)"
