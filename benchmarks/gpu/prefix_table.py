"""A markdown table of a prefix-share sweep (benchmarks/gpu/run_fair.sh, steps prefix-*): per point, the
intended share, the hit rate the engine reported, J/output token (with its 95% CI), dynamic J/token,
throughput, TTFT p50, window lengths, the independent poller's error on each window (linear and edge
references, poll_during.py) and the flags. Reads what llem and the poller wrote; computes nothing new.

    python benchmarks/gpu/prefix_table.py RUNS_ROOT [POLL_JSON]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _pct(x):
    return "—" if x is None else f"{100 * x:.2f}%"


def rows(root: Path, poll: dict) -> list[str]:
    checked = {Path(r["result"]).parent.name: r for r in poll.get("results", [])}
    out = [
        "| engine | share | conc. | hit rate read (ideal) | J/token (95% CI) | dynamic J/token | tok/s | TTFT p50 | "
        "windows (s) | poller \\|err\\| mean / max (linear) | flags |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
    ]
    found = []
    for path in sorted(root.glob("**/result.json")):
        r = json.loads(path.read_text())
        w, m = r["spec"]["workload"], r["metrics"]
        found.append((r["spec"]["backend"]["name"], w.get("prefix_share") or 0.0, w["concurrency"], path, r))
    for engine, share, conc, path, r in sorted(found, key=lambda t: t[:3]):
        m, pc = r["metrics"], r.get("prefix_cache") or {}
        st = (r.get("statistics") or {}).get("energy_j_per_output_token") or {}
        ci = (100 * (st["ci95_high"] - st["ci95_low"]) / 2 / st["mean"]) if st.get("ci95_high") is not None else None
        p = checked.get(path.parent.name, {})
        lin = p.get("linear") or {}
        wins = ", ".join(f"{x['duration_s']:.1f}" for x in p.get("windows", [])) or "—"
        flags = (r.get("validity") or {}).get("flags") or []
        kinds = sorted({f.split(":")[0] if not f.startswith("run ") else f.split(": ", 1)[1].split(":")[0] for f in flags})
        hit = pc.get("hit_rate")
        ideal = pc.get("ideal_hit_rate")
        out.append(
            f"| {engine} | {share:g} | {conc} | {'—' if hit is None else f'{hit:.3f}'} "
            f"({'—' if ideal is None else f'{ideal:.3f}'}) | {m['energy_j_per_output_token']:.4f}"
            f"{'' if ci is None else f' ±{ci:.1f}%'} | {m.get('dynamic_energy_j_per_output_token') or 0:.4f} | "
            f"{m['output_tokens_per_s']:.0f} | {1000 * m['ttft_p50_s']:.0f} ms | {wins} | "
            f"{_pct(lin.get('mean_abs'))} / {_pct(lin.get('max_abs'))} | {'; '.join(kinds) or '—'} |"
        )
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    poll = json.loads(Path(argv[1]).read_text()) if len(argv) > 1 else {}
    print("\n".join(rows(Path(argv[0]), poll)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
