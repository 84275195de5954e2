#!/usr/bin/env bash
# SGLang's argument definitions for tests/backends/test_mappings_real.py: SGLang has no CPU build and
# needs a GPU to import, but its server_args.py and sampling_params.py can be read as text. Downloads
# the release's wheel without dependencies (about 5 MB) and extracts those two files to
# /root/.cache/llem-ci/sglang-<version>/. Idempotent: an extracted release is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/versions.env
VERSION=${LLEM_SGLANG_VERSION:-$SGLANG}
DEST=${LLEM_CI_CACHE:-/root/.cache/llem-ci}/sglang-${VERSION}
FILES="sglang/srt/server_args.py sglang/srt/sampling/sampling_params.py"
if [ -f "$DEST/sglang/srt/server_args.py" ] && [ -f "$DEST/sglang/srt/sampling/sampling_params.py" ]; then
  echo "SGLang $VERSION argument definitions already in $DEST"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python -m pip --disable-pip-version-check -q download --no-deps "sglang==$VERSION" -d "$tmp" \
  2> >(grep -v "^WARNING: Location" >&2)
mkdir -p "$DEST"
.venv/bin/python - "$tmp" "$DEST" $FILES <<'PY'
import glob, sys, zipfile
tmp, dest, *files = sys.argv[1:]
[wheel] = glob.glob(f"{tmp}/sglang-*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in files:
        z.extract(name, dest)
print("SGLang argument definitions from", wheel.rsplit("/", 1)[-1], "in", dest)
PY
