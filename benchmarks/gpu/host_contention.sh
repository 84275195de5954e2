#!/usr/bin/env bash
# On the GPU machine: does other work on the host's CPUs move a host-bound engine's J/token, and does
# llem say so? PyTorch (static KV cache, the repeatability preset's configuration) measured twice:
# on a quiet host, then beside HOGS busy loops at nice 19 (as a background compile would be).
# Prints per run: J/token, its CV, throughput CV, other processes' CPUs per window, host_busy flags.
set -uo pipefail
source "$(dirname "$0")/prepare.sh" > /dev/null 2>&1
export PYTHONPATH=$PWD:$PWD/launchers LLEM_CACHE_DIR=${LLEM_CACHE_DIR:-/tmp/llem-cache}
C=(model=llama3.2-1b model.weights=random hardware=cuda workload=synthetic workload.input_tokens=128
   workload.batch_size=8 workload.num_prompts=8 workload.output_tokens=256 backend.cache_implementation=static
   run.repeats=${REPEATS:-5} tracking=none)
python3 -m llem "${C[@]}" run.output_root=/tmp/hc-quiet > "$OUT/quiet.log" 2>&1
pids=()
for _ in $(seq "${HOGS:-16}"); do nice -n 19 python3 -c "while True: pass" & pids+=($!); done
python3 -m llem "${C[@]}" run.output_root=/tmp/hc-hogs > "$OUT/hogs.log" 2>&1
kill "${pids[@]}"
python3 - /tmp/hc-quiet /tmp/hc-hogs <<'PY' | tee "$OUT/host_contention.txt"
import glob, json, sys
for root in sys.argv[1:]:
    [f] = glob.glob(f"{root}/runs/*/result.json")
    r = json.load(open(f)); s = r["statistics"]
    j, t = s["energy_j_per_output_token"], s["output_tokens_per_s"]
    hosts = [w.get("host") or {} for w in r["windows"]]
    print(f"{root}: J/token {j['mean']:.4f} (CV {100 * j['cv']:.2f}%), tok/s {t['mean']:.0f} (CV {100 * t['cv']:.2f}%)")
    print("  other CPUs per window:", [h.get("other_cores") for h in hosts], "own:", [h.get("own_cores") for h in hosts],
          "steal:", [h.get("steal_cores") for h in hosts], "host CPUs:", hosts[0].get("host_cpus"))
    print("  power W per window:", [round((w.get("conditions") or {}).get("mean_power_w") or 0) for w in r["windows"]])
    for fl in r["validity"]["flags"]:
        print("  flag:", fl[:220])
PY
tar czf "$OUT/hc-runs.tgz" -C /tmp --exclude='*.safetensors' hc-quiet hc-hogs 2>/dev/null
