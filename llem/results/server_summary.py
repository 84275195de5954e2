"""Rows of the one-screen summary for a server-mode result (called from llem/results/render.py): plain dicts in, text out."""

from __future__ import annotations


def _p(m: dict, name: str) -> str:
    vals = [m.get(f"{name}_p{q}_s") for q in (50, 90, 99)]
    if vals[0] is None:
        return "n/a"
    return ", ".join(f"p{q} {v * 1000:.1f} ms" for q, v in zip((50, 90, 99), vals) if v is not None)


def _where(s: dict, engine_load: dict, how: str) -> str:
    """Whether this job attached to, started or reused (a server an earlier job of the sweep started) the server."""
    if s["attached"]:
        return f"attached to {s['url']} ({how})"
    if engine_load.get("reused"):
        return f"reused {s['url']} (started for {engine_load['loaded_for']}; {how})"
    return f"started {s['url']} ({how})"


def server_rows(result: dict) -> list[tuple[str, str]]:
    s, m = result["server"], result["metrics"]
    load = s["load"]
    how = (
        f"{load['request_rate']:g} req/s {load['arrival']}, at most {load['concurrency']} in flight"
        if load["request_rate"]
        else f"closed loop, {load['concurrency']} in flight"
    )
    endpoint = (result.get("engine") or {}).get("effective_settings", {}).get("endpoint")
    if endpoint:
        how += f", {endpoint}"
    rows = [
        ("server", _where(s, result.get("engine_load") or {}, how)),
        ("TTFT", _p(m, "ttft")),
        ("inter-token latency", _p(m, "itl")),
        ("TPOT", _p(m, "tpot")),
        ("request latency", _p(m, "e2e_latency")),
    ]
    g = s.get("goodput")
    if g:
        rows.append(
            ("goodput", f"{g['goodput_requests_per_s']:.3g} req/s within SLO ({g['fraction_within_slo']:.0%} of requests)")
        )
    whole = [w["whole_run"] for w in result["windows"]]
    jt = [w.get("energy_j_per_output_token") for w in whole]
    if all(v is not None for v in jt) and jt:
        rows.append(("J / output token (whole run)", f"{sum(jt) / len(jt):.4g}"))
    return rows
