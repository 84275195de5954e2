#!/usr/bin/env bash
# Here (a machine with PyPI access): the FlashAttention-3 kernels that SGLang picks by default on Hopper
# for dense (MHA) models, left out of build-sglang-site.sh's site because of their size:
# sglang-kernel's sgl_kernel/flash_ops.abi3.so (1.1 GB: FA3 for sm80/86/89/90a). gzip packs it to
# 342 MB; zstd -19 with a 128 MiB window to ~142 MB (2026-12-07), i.e. three carries instead of six.
# Output: DEST/p0/flash_ops.zst.part00 and DEST/p0/flash_ops.sha256 (of the compressed stream), the
# layout pack_carries.sh reads as its optional third stream; on the GPU machine stage-fa3.sh puts the
# library into the SGLang site once the site is unpacked.
# Compressing takes ~9 minutes of one core here. Usage: bash build-fa3-part.sh DEST (e.g. .gpustage/fa3)
set -euo pipefail
DEST=$(mkdir -p "${1:?usage: build-fa3-part.sh DEST}" && cd "$1" && pwd)
PY=${PYTHON:-python3}
KVER=${SGLANG_KERNEL_VERSION:-0.4.5}  # the sglang-kernel that build-sglang-site.sh stages
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --disable-pip-version-check --only-binary=:all: --no-deps --python-version 3.12 \
  --implementation cp --abi cp312 --abi abi3 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  -d "$work" "sglang-kernel==$KVER"
"$PY" - "$work"/sglang_kernel-*.whl "$work" <<'PYX'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("sgl_kernel/flash_ops.abi3.so", sys.argv[2])
PYX
rm -rf "$DEST"/p[0-9]* && mkdir -p "$DEST/p0"
zstd -q -19 -T0 --long=27 "$work/sgl_kernel/flash_ops.abi3.so" -o "$DEST/p0/flash_ops.zst.part00"
sha256sum < "$DEST/p0/flash_ops.zst.part00" | cut -d' ' -f1 > "$DEST/p0/flash_ops.sha256"
ls -la "$DEST/p0"
