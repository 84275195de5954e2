"""One-screen summary of a result (rich table)."""

from __future__ import annotations

from pathlib import Path

from llem.host.progress import console
from llem.models.source import weights_label
from llem.results.basis import meter_label, record_is_estimate
from llem.results.server_summary import server_rows


def _fmt(v, spec: str = ".3g", unit: str = "") -> str:
    if v is None:
        return "n/a"
    return f"{v:{spec}}{unit}"


def _ci(stat: dict | None, spec: str = ".3g") -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    s = _fmt(stat["mean"], spec)
    if stat.get("ci95_low") is not None:
        s += (
            f"  [dim](95% CI {_fmt(stat['ci95_low'], spec)}–{_fmt(stat['ci95_high'], spec)}, CV {stat['cv']:.1%})[/dim]"
            if stat.get("cv") is not None
            else ""
        )
    return s


def _bound(result: dict, field: str) -> str:
    """The uncertainty budget's expanded bound (95%, k = t(nu_eff); k=2 in results before it), where the
    result has one (schema 2)."""
    u = ((result.get("energy") or {}).get("uncertainty") or {}).get(field)
    if not u or u.get("relative_expanded") is None:
        return ""
    k = u.get("coverage_factor") or 2.0
    return f"  [dim](± {u['expanded']:.2g} budget, k={k:.2g}: {u['relative_expanded']:.1%})[/dim]"


def render(result: dict, run_dir) -> None:
    from rich.table import Table

    con = console()
    ident = result["identity"]
    if result["status"] != "ok":
        err = result.get("error", {})
        con.print(
            f"[red]llem: job {ident['run_id']} failed[/red]: {err.get('type')}: {err.get('message')}  [dim]({run_dir})[/dim]"
        )
        return
    m, st = result["metrics"], result["statistics"]
    t = Table(title=f"{ident['run_id']}", title_justify="left", show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    spec = result["spec"]
    w = spec["workload"]
    t.add_row("engine", f"{ident['backend']} ({ident['engine']} {ident['engine_version']}) on {ident['device']}")
    t.add_row("model", f"{spec['model']['name']} ({spec['model']['id']}, weights {weights_label(spec['model'])})")
    batch = result["engine"].get("effective_settings", {}).get("batch_size", w["batch_size"])  # as the engine ran it
    lengths = (
        f"up to {w['output_tokens']} output tokens (JSON schema)"
        if w.get("response_format") == "json_schema"
        else f"{w['output_tokens']} output tokens"
    )
    t.add_row("workload", f"{result['requests']['count']} requests × {lengths}, batch {batch}, source {w['source']}")
    t.add_row("windows", f"{len(result['windows'])} measured after {spec['run']['warmup']} warmup pass(es)")
    t.add_row("throughput", f"{_ci(st['output_tokens_per_s'])} output tok/s")
    if m.get("ttft_p50_s") is not None:
        t.add_row("time to first token", f"p50 {_fmt(m['ttft_p50_s'], '.3f', ' s')}, p90 {_fmt(m['ttft_p90_s'], '.3f', ' s')}")
    if result.get("server"):  # workload.mode=server: TTFT/ITL/TPOT percentiles, goodput
        for row in server_rows(result):
            t.add_row(*row)
    sessions = (result.get("server") or {}).get("sessions")
    if sessions:  # workload.turns > 1: per conversation and per turn
        t.add_row(
            "conversations",
            f"{sessions['conversations']} x {sessions['turns']} turns, "
            f"{_fmt(sessions['energy_j_per_conversation'], '.4g', ' J')} per conversation",
        )
        for row in sessions["per_turn"]:
            t.add_row(
                f"  turn {row['turn']}",
                f"{_fmt(row['mean_prompt_tokens'], '.0f')} prompt tokens, "
                f"{_fmt(row['energy_j_per_output_token'], '.4g')} J/output token, "
                f"TTFT p50 {_fmt(row['ttft_p50_s'], '.3f', ' s')}",
            )
    if (result.get("prefix_cache") or {}).get("intended_share"):  # workload.prefix_share: read back, not assumed
        t.add_row("prefix cache", prefix_row(result["prefix_cache"]))
    if result.get("structured"):  # workload.response_format=json_schema: validated, not assumed
        t.add_row("structured output", structured_row(result["structured"]))
    if result.get("speculative"):  # speculative decoding configured: acceptance read back from the engine
        t.add_row("speculative decoding", speculative_row(result["speculative"]))
    t.add_row(
        "batch latency",
        f"p50 {_fmt(m['batch_latency_p50_s'], '.3f', ' s')}, p90 {_fmt(m['batch_latency_p90_s'], '.3f', ' s')}, p99 {_fmt(m['batch_latency_p99_s'], '.3f', ' s')}",
    )
    if m["energy_j_per_output_token"] is None:
        t.add_row("energy", f"[yellow]not measured[/yellow]: {m['energy_reason']}")
    else:
        est = " [yellow](estimate)[/yellow]" if record_is_estimate(result) else ""
        est += f" (scope {m['energy_scope']})" if m.get("energy_scope") else ""  # what the joules count: gpu, gpu+cpu+dram
        t.add_row(
            "J / output token" + est, _ci(st["energy_j_per_output_token"], ".4g") + _bound(result, "energy_j_per_output_token")
        )
        t.add_row(
            "  dynamic (− idle)" + est,
            _ci(st["dynamic_energy_j_per_output_token"], ".4g") + _bound(result, "dynamic_energy_j_per_output_token"),
        )
        t.add_row(
            "energy / window" + est, f"{_ci(st['energy_j'])} J at {_fmt(m['avg_power_w'], '.1f', ' W')} ({meter_label(result)})"
        )
        if result.get("validity", {}).get("windows_measured"):
            t.add_row("windows measured", result["validity"]["windows_measured"])
    roof = result.get("roofline") or {}
    if ident["device"] == "cuda" and roof:
        t.add_row("roofline", _roofline(roof))
    mem = result["memory"]
    t.add_row("peak memory", ", ".join(f"{k.removesuffix('_mib')} {v:.0f} MiB" for k, v in mem.items() if v is not None))
    for flag in result["validity"]["flags"]:
        t.add_row("[yellow]flag[/yellow]", flag)
    if result.get("settings_not_applied"):  # an offline point of a sweep over both modes
        t.add_row("not applied", ", ".join(result["settings_not_applied"]) + " (server mode only)")
    con.print(t)
    # outside the table, whole: a path cut to the terminal's width ("…") cannot be copied
    con.print(f"[bold]run dir[/bold]        {Path(run_dir).resolve()}", overflow="ignore", crop=False)


def prefix_row(pc: dict) -> str:
    shape = f"share {pc['intended_share']:g} in groups of {pc['group_size']}, ideal hit rate {pc['ideal_hit_rate']:.3f}"
    if pc["hit_rate"] is None:
        return f"{shape}; hit rate [yellow]not read[/yellow]: {pc['reason']}"
    return f"hit rate {pc['hit_rate']:.3f} read back from the engine ({shape})"


def structured_row(s: dict) -> str:
    frac = "n/a" if s["valid_fraction"] is None else f"{s['valid_fraction']:.3f}"
    energy = (
        f"{s['energy_j_per_valid_object']:.4g} J per valid object"
        if s["energy_j_per_valid_object"] is not None
        else f"J per valid object [yellow]not measured[/yellow]: {s['reason']}"
    )
    compile_s = (s.get("grammar_compile") or {}).get("compile_s")
    return (
        f"{s['valid_objects']} of {s['objects']} valid ({frac}), {_fmt(s['tokens_per_object'], '.1f')} tokens per object, "
        f"{energy}; grammar {s['grammar_backend']}, compile {_fmt(compile_s, '.3f', ' s')}"
    )


def speculative_row(sd: dict) -> str:
    if sd["acceptance_rate"] is None:
        return f"{sd['configured']}; acceptance [yellow]not read[/yellow]: {sd['reason']}"
    per_acc = (sd.get("energy_j_per_accepted_token") or {}).get("mean")
    per_out = (sd.get("energy_j_per_output_token") or {}).get("mean")
    energy = (
        f"; {_fmt(per_acc, '.4g')} J/accepted token beside {_fmt(per_out, '.4g')} J/output token"
        if per_acc
        else f"; J/accepted token [yellow]not measured[/yellow]: {sd.get('energy_reason')}"
    )
    return (
        f"acceptance {sd['acceptance_rate']:.3f} ({sd['accepted_tokens']} of {sd['draft_tokens']} drafted tokens, "
        f"mean accepted length {_fmt(sd['mean_accepted_length'], '.3g')}){energy}"
    )


def _roofline(roof: dict) -> str:
    """MBU (decode) and MFU (prefill) against the datasheet peaks, or why not."""
    if roof.get("mbu_decode") is None:
        return f"[dim]not computed: {roof.get('reason')}[/dim]"
    mbu = f"MBU decode {roof['mbu_decode']:.1%}"
    if roof.get("mbu_decode_bound") != "measured":
        mbu += f" ({roof['mbu_decode_bound']})"
    mfu = f", MFU prefill {roof['mfu_prefill']:.1%}" if roof.get("mfu_prefill") is not None else ""
    return f"{mbu}{mfu} of {roof['peak']['name']} datasheet peaks"
