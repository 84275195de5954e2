#!/usr/bin/env bash
# On the GPU machine: copy the parts in CHUNK_DIR (sgsite.tgz.partNN, maybe sgsite.sha256) to STAGE
# (default /root/sgsite-stage); once the sha file has come and the parts add up to it, unpack into
# SITE (default /root/sgsite). Idempotent: safe to call once per part, in any order.
# Then: export PYTHONPATH=/root/sgsite/_pinned_hf:/root/sgsite:/root/site (the vLLM 0.26 site supplies
# flashinfer, fastapi ...; _pinned_hf holds SGLang's transformers pin: see build-sglang-site.sh).
# Usage: bash stage-sglang-site.sh CHUNK_DIR
set -euo pipefail
STAGE=${STAGE:-/root/sgsite-stage}; SITE=${SITE:-/root/sgsite}
mkdir -p "$STAGE"
cp -n "${1:?usage: stage-sglang-site.sh CHUNK_DIR}"/sgsite.* "$STAGE"/ 2>/dev/null || true
ls -la "$STAGE"
if [ -d "$SITE/sglang" ]; then echo "SGLang site already unpacked in $SITE"; exit 0; fi
[ -f "$STAGE/sgsite.sha256" ] || { echo "staged; waiting for the sha file and the remaining parts"; exit 0; }
sum=$(cat "$STAGE"/sgsite.tgz.part* | sha256sum | cut -d' ' -f1)
if [ "$sum" != "$(cat "$STAGE/sgsite.sha256")" ]; then echo "staged; parts incomplete (sum differs)"; exit 0; fi
tmp=$(mktemp -d "$(dirname "$SITE")/.sgsite.XXXX")
cat "$STAGE"/sgsite.tgz.part* | tar xzf - -C "$tmp"
mv "$tmp/sgsite" "$SITE" && rmdir "$tmp"
echo "unpacked SGLang site into $SITE"
