"""The energy-optimal configuration under a latency target: among the runs of a sweep whose p90
time to first token (`--slo-ttft-s`) and/or p90 latency (`--slo-latency-s`: end-to-end per request
in server mode, per batch offline) meet the targets, the one with the lowest J per output token,
and what it saves against the fastest configuration (the lowest p90 latency of all runs); and whether
the winner's comparison with the runs it beat is like for like (llem/results/comparison.py)."""

from __future__ import annotations

from typing import Optional

from llem.results.comparison import choice_comparison, choice_lines

JPT = "energy_j_per_output_token"


def latency_of(row: dict) -> Optional[float]:
    """A run's p90 latency: end to end per request where measured (server mode), else per batch."""
    e2e = row.get("e2e_latency_p90_s")
    return e2e if e2e is not None else row.get("batch_latency_p90_s")


def _meets(row: dict, ttft_s: Optional[float], latency_s: Optional[float]) -> Optional[bool]:
    """True/False, or None where a targeted latency was not measured for the run."""
    if ttft_s is not None:
        if row.get("ttft_p90_s") is None:
            return None
        if row["ttft_p90_s"] > ttft_s:
            return False
    if latency_s is not None:
        lat = latency_of(row)
        if lat is None:
            return None
        if lat > latency_s:
            return False
    return True


def choose(
    rows: list[dict], ttft_s: Optional[float] = None, latency_s: Optional[float] = None, records: Optional[dict] = None
) -> dict:
    """The choice; with `records` ({run_id: result record}) also the winner's comparison certificate against
    the runs it beat (those meeting the target) and the fastest (llem/results/comparison.py)."""
    measured = [r for r in rows if r.get("status") == "ok" and r.get(JPT) is not None]
    targets = {"ttft_p90_s": ttft_s, "latency_p90_s": latency_s}
    if not measured:
        return {"targets": targets, "best": None, "reason": "no run has a measured J per output token"}
    verdicts = [(r, _meets(r, ttft_s, latency_s)) for r in measured]
    feasible = [r for r, ok in verdicts if ok]
    unknown = [r["run_id"] for r, ok in verdicts if ok is None]
    timed = [r for r in measured if latency_of(r) is not None]
    fastest = min(timed, key=latency_of) if timed else None
    out = {
        "targets": targets,
        "feasible": len(feasible),
        "of": len(measured),
        "latency_unknown": unknown,
        "fastest": _brief(fastest),
    }
    if not feasible:
        return dict(out, best=None, reason="no run meets the target")
    best = min(feasible, key=lambda r: r[JPT])
    saving = None if fastest is None else 1 - best[JPT] / fastest[JPT]
    comparison = None
    if records is not None and str(best["run_id"]) in records:
        beaten = [r for r in feasible if r is not best] + ([fastest] if fastest is not None and fastest not in feasible else [])
        comparison = choice_comparison(
            records[str(best["run_id"])], [records[str(r["run_id"])] for r in beaten if str(r["run_id"]) in records]
        )
    return dict(out, best=_brief(best), saving_vs_fastest=saving, reason=None, comparison=comparison)


def _brief(row: Optional[dict]) -> Optional[dict]:
    if row is None:
        return None
    return {"run_id": row["run_id"], JPT: row.get(JPT), "ttft_p90_s": row.get("ttft_p90_s"), "latency_p90_s": latency_of(row)}


def slo_lines(choice: dict) -> list[str]:
    t = choice["targets"]
    target = " and ".join(
        f"{name} <= {v:g} s" for name, v in (("TTFT p90", t["ttft_p90_s"]), ("latency p90", t["latency_p90_s"])) if v is not None
    )
    if choice["best"] is None:
        return [f"lowest energy with {target}: none ({choice['reason']})"]
    b, f = choice["best"], choice["fastest"]
    lines = [
        f"lowest energy with {target}: {b['run_id']} at {b[JPT]:.4g} J/output token "
        f"({choice['feasible']} of {choice['of']} runs meet the target)"
    ]
    if f is not None and choice.get("saving_vs_fastest") is not None:
        lines.append(
            f"  against the fastest ({f['run_id']}, p90 {f['latency_p90_s']:.3g} s, {f[JPT]:.4g} J/token): "
            f"{choice['saving_vs_fastest']:+.1%} energy saved"
        )
    if choice["latency_unknown"]:
        lines.append(f"  not judged (latency not measured): {', '.join(choice['latency_unknown'])}")
    if choice.get("comparison"):
        lines += [f"  {line}" for line in choice_lines(choice["comparison"], f"the choice ({b['run_id']})")]
    return lines
