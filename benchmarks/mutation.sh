#!/usr/bin/env bash
# Mutation testing of llem's measurement core with mutmut 3 (not part of CI: minutes per file on
# two cores). Each file is mutated alone, in a fresh copy of the tracked tree under $MUTMUT_WORK,
# against the fast in-process tests that cover it; results land in $MUTMUT_OUT/<file>.{json,txt}
# (mutmut's stats, and every surviving mutant's diff). Score and survivors: docs/benchmarks.md.
#
#   bash benchmarks/mutation.sh                    # the four core files, one after another
#   bash benchmarks/mutation.sh llem/results/stats.py      # one file
#
# mutmut is installed with `pip --target` into $MUTMUT_TOOLS (default .mutmut-tools, git-ignored),
# leaving out what the project's venv already has, so the venv itself is not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-$REPO/.venv/bin/python}
TOOLS=${MUTMUT_TOOLS:-$REPO/.mutmut-tools}
WORK=${MUTMUT_WORK:-/tmp/llem-mutation}
OUT=${MUTMUT_OUT:-$REPO/benchmarks/results/mutation}
JOBS=${MUTMUT_JOBS:-2}

# file to mutate -> the tests that exercise it in-process (llem subprocesses would not see mutants)
declare -A TESTS=(
  [llem/results/stats.py]="tests/energy/test_stats.py tests/test_results_metrics.py tests/energy/test_uncertainty.py"
  [llem/results/metrics.py]="tests/test_results_metrics.py tests/tracking/test_payload.py"
  # (check_devices/describe: test_gpu_mapping.py's in-process cases; its harness case, a whole model load per mutant,
  # took the run past 14 minutes, and the flag it checks end to end is what the in-process cases check)
  [llem/energy/nvml.py]="tests/energy/test_nvml_meter.py tests/energy/test_alignment.py tests/energy/test_devices.py tests/energy/test_no_silent_number.py tests/energy/test_energy_auto.py tests/energy/test_gpu_mapping.py --deselect tests/energy/test_gpu_mapping.py::test_the_harness_checks_the_mapping_once_the_engine_has_loaded"
  # (the root-only test reads the tree as user nobody in a bare interpreter, which cannot import mutmut)
  [llem/energy/rapl.py]="tests/energy/test_rapl.py tests/energy/test_no_silent_number.py --deselect tests/energy/test_rapl.py::test_root_only_energy_uj_says_how_to_fix"
)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(llem/results/stats.py llem/results/metrics.py llem/energy/nvml.py llem/energy/rapl.py)

if [ ! -d "$TOOLS/mutmut" ]; then
  mkdir -p "$OUT"
  "$PY" -m pip install --quiet --target "$TOOLS" "mutmut==3.8.1" > "$OUT/pip.log" 2>&1 || { cat "$OUT/pip.log"; exit 1; }
  "$PY" benchmarks/mutation_prune.py "$TOOLS"  # drop the copies of what the venv already provides
fi
mkdir -p "$OUT"
for file in "${files[@]}"; do
  tests=${TESTS[$file]:?"no test selection for $file (add it to TESTS in $0)"}
  name=$(echo "$file" | tr / _)
  copy="$WORK/$name"
  rm -rf "$copy"; mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - | tar -xf - -C "$copy"
  {
    echo; echo "[tool.mutmut]"
    echo 'source_paths = ["llem"]'
    echo "only_mutate = [\"$file\"]"
    echo 'also_copy = ["tests", "conf", "launchers", "benchmarks", "pyproject.toml"]'
    printf 'pytest_add_cli_args_test_selection = [%s]\n' "$(printf '"%s", ' $tests | sed 's/, $//')"
    echo 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not slow"]'
  } >> "$copy/pyproject.toml"
  echo "== mutmut: $file (tests: $tests)"
  start=$(date +%s)
  (cd "$copy" && PYTHONPATH="$TOOLS" "$PY" -m mutmut run --max-children "$JOBS" > "$OUT/$name.log" 2>&1) || true
  (cd "$copy" && PYTHONPATH="$TOOLS" "$PY" -m mutmut export-cicd-stats > /dev/null &&
     cp mutants/mutmut-cicd-stats.json "$OUT/$name.json")
  {
    echo "# $file: mutmut 3.8.1, $(( $(date +%s) - start )) s, $(date -u +%FT%TZ), tests: $tests"
    cat "$OUT/$name.json"; echo
    for m in $(cd "$copy" && PYTHONPATH="$TOOLS" "$PY" -m mutmut results | awk -F: '/: (survived|timeout|suspicious|no tests)/ {print $1}'); do
      (cd "$copy" && PYTHONPATH="$TOOLS" "$PY" -m mutmut show "$m")
    done
  } > "$OUT/$name.txt"
  "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); t=s['total']-s['skipped']; print(f\"   killed {s['killed']}/{t} ({100*s['killed']/max(t,1):.1f}%), survived {s['survived']}, timeout {s['timeout']}, no tests {s['no_tests']}\")" "$OUT/$name.json"
done
