#!/usr/bin/env bash
# SGLang's argument definitions for tests/backends/test_mappings_real.py and test_sglang_current.py:
# SGLang has no CPU build and needs a GPU to import, but its sources can be read as text. For the
# pinned release ($SGLANG) and the newest one checked ($SGLANG_NEWEST), downloads the wheel without
# dependencies (about 5 MB) and extracts server_args.py, sampling/sampling_params.py and, from 0.5.20
# where ServerArgs' fields moved there, arg_groups/ to /root/.cache/llem-ci/sglang-<version>/.
# Idempotent: an extracted release is left alone. LLEM_SGLANG_VERSION names one release instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/versions.env
VERSIONS=${LLEM_SGLANG_VERSION:-"$SGLANG $SGLANG_NEWEST"}
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT
for VERSION in $VERSIONS; do
  DEST=${LLEM_CI_CACHE:-/root/.cache/llem-ci}/sglang-${VERSION}
  if [ -f "$DEST/.complete" ]; then
    echo "SGLang $VERSION argument definitions already in $DEST"
    continue
  fi
  tmp=$(mktemp -d)
  scratch+=("$tmp")
  .venv/bin/python -m pip --disable-pip-version-check -q download --no-deps "sglang==$VERSION" -d "$tmp" \
    2> >(grep -v "^WARNING: Location" >&2)
  mkdir -p "$DEST"
  .venv/bin/python - "$tmp" "$DEST" <<'PY'
import glob, sys, zipfile
tmp, dest = sys.argv[1:]
[wheel] = glob.glob(f"{tmp}/sglang-*.whl")
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n in ("sglang/srt/server_args.py", "sglang/srt/sampling/sampling_params.py")
             or (n.startswith("sglang/srt/arg_groups/") and n.endswith(".py"))]
    for name in names:
        z.extract(name, dest)
print("SGLang argument definitions from", wheel.rsplit("/", 1)[-1], "in", dest, f"({len(names)} files)")
PY
  touch "$DEST/.complete"
done
