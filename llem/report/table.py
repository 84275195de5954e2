"""Flatten run records into comparison rows; print them as a rich table; write them as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

from llem.host.progress import console
from llem.errors import UserError
from llem.paths import ENVIRONMENT
from llem.registry import engine
from llem.report.collect import Run
from llem.results.basis import meter_label, record_is_estimate
from llem.results.io import read_json
from llem.tracking.payload import gpu_name
from llem.workload.server_checks import SERVER_ONLY_FIELDS

# Spec fields that can tell runs apart, in the order labels use them.
LABEL_KEYS = ("backend", "model", "hardware", "dtype", "input_tokens", "output_tokens", "batch_size")
# workload fields with columns of their own (or not a setting); the others become "workload.<key>" columns
WORKLOAD_IN_COLUMNS = ("name", "batch_size", "input_tokens", "output_tokens", "num_prompts", "path", "schema_path")
SETTING_PREFIXES = ("backend.", "workload.")
# Workload fields an offline run never applies (server mode's, and the multi-turn session's, which needs a
# server): an offline row leaves them out rather than show their defaults as if they were used.
OFFLINE_UNUSED = (*SERVER_ONLY_FIELDS, "turns", "think_time_s")


def _server_only_settings(backend: Optional[str]) -> tuple[str, ...]:
    """The engine's settings that only its server applies (its settings model's SERVER_ONLY), which an offline
    row leaves out like OFFLINE_UNUSED; none for an engine this installation does not know."""
    try:
        return tuple(getattr(engine(backend).settings_model(), "SERVER_ONLY", ()))
    except UserError:
        return ()


def setting_keys(rows: list[dict]) -> list[str]:
    """The engine and workload settings the rows carry ("backend.<key>", "workload.<key>"), sorted."""
    return sorted({k for r in rows for k in r if k.startswith(SETTING_PREFIXES)})


def setting_name(key: str) -> str:
    return key.split(".", 1)[1] if key.startswith(SETTING_PREFIXES) else key


def setting_columns(rows: list[dict]) -> list[tuple[str, str]]:
    """(key, header) of the settings the rows carry; a name both groups have keeps its group (workload.seed)."""
    keys = setting_keys(rows)
    names = [setting_name(k) for k in keys]
    return [(k, k if names.count(setting_name(k)) > 1 else setting_name(k)) for k in keys]


CSV_COLUMNS = [
    "run_id",
    "status",
    "backend",
    "engine",
    "engine_version",
    "model",
    "dtype",
    "hardware",
    "device",
    "gpu_name",
    "batch_size",
    "input_tokens",
    "output_tokens",
    "num_prompts",
    "repeats",
    "output_tokens_per_s",
    "output_tokens_per_s_ci95_low",
    "output_tokens_per_s_ci95_high",
    "energy_j_per_output_token",
    "energy_j_per_output_token_ci95_low",
    "energy_j_per_output_token_ci95_high",
    "dynamic_energy_j_per_output_token",
    "energy_j",
    "avg_power_w",
    "avg_power_w_ci95_low",
    "avg_power_w_ci95_high",
    "peak_power_w",
    "batch_latency_p50_s",
    "batch_latency_p90_s",
    "batch_latency_p99_s",
    "ttft_p50_s",
    "ttft_p90_s",
    "itl_p50_s",
    "tpot_p50_s",
    "tpot_p90_s",
    "energy_meter",
    "energy_scope",
    "energy_basis",
    "energy_reason",
    "validity_flags",
    "like_for_like",
    "config_hash",
    "prompt_token_ids_sha256",
    "error",
    "run_dir",
]


CI_KEYS = ("output_tokens_per_s", "energy_j_per_output_token", "avg_power_w")


def _stat(record: dict, field: str, part: str) -> Optional[float]:
    return ((record.get("statistics") or {}).get(field) or {}).get(part)


def flatten(run: Run) -> dict:
    rec = run.record
    spec, ident = rec.get("spec", {}), rec.get("identity", {})
    w, b = spec.get("workload", {}), spec.get("backend", {})
    m = rec.get("metrics", {}) if run.ok else {}
    ts = rec.get("timeseries") if isinstance(rec.get("timeseries"), dict) else {}
    env_gpus = None
    if run.run_dir is not None and (run.run_dir / ENVIRONMENT).is_file():
        try:
            env_gpus = gpu_name(read_json(run.run_dir / ENVIRONMENT))
        except (OSError, ValueError):
            env_gpus = None
    row = {
        "run_id": ident.get("run_id"),
        "status": rec.get("status"),
        "backend": b.get("name"),
        "engine": ident.get("engine"),
        "engine_version": ident.get("engine_version"),
        "model": spec.get("model", {}).get("name"),
        # the dtype the engine ran (e.g. auto -> bfloat16), else the one asked for
        "dtype": ((rec.get("engine") or {}).get("effective_settings") or {}).get("dtype") or b.get("dtype"),
        "hardware": spec.get("hardware", {}).get("name"),
        "device": ident.get("device"),
        "gpu_name": env_gpus,
        "batch_size": w.get("batch_size"),
        "input_tokens": w.get("input_tokens"),
        "output_tokens": w.get("output_tokens"),
        "num_prompts": w.get("num_prompts"),
        "repeats": spec.get("run", {}).get("repeats"),
        "energy_meter": meter_label(rec) if run.ok else None,  # 'codecarbon (estimate)'
        "energy_scope": energy_scope(rec) if run.ok else None,
        "energy_basis": ("estimate" if record_is_estimate(rec) else "measured")
        if run.ok and m.get("energy_j") is not None
        else None,
        "energy_reason": m.get("energy_reason"),
        "validity_flags": " | ".join((rec.get("validity") or {}).get("flags") or []) or None,
        "config_hash": ident.get("config_hash"),
        "prompt_token_ids_sha256": (rec.get("requests") or {}).get("prompt_token_ids_sha256"),
        "error": None if run.ok else "{type}: {message}".format(**{"type": None, "message": None, **(rec.get("error") or {})}),
        "run_dir": str(run.run_dir) if run.run_dir else None,
        "peak_power_w": ts.get("peak_power_w"),
    }
    offline = w.get("mode", "offline") != "server"
    unused = _server_only_settings(b.get("name")) if offline else ()
    for key, value in b.items():  # engine settings can tell runs apart (cache, compile, attention)
        if key not in ("name", "dtype", *unused) and isinstance(value, (str, int, float, bool)):
            row[f"backend.{key}"] = value
    for key, value in w.items():  # so can workload settings (concurrency, prefix share, mode, arrival rate)
        if offline and key in OFFLINE_UNUSED:
            continue
        if key not in WORKLOAD_IN_COLUMNS and isinstance(value, (str, int, float, bool)):
            row[f"workload.{key}"] = value
    for key in (
        "output_tokens_per_s",
        "energy_j_per_output_token",
        "dynamic_energy_j_per_output_token",
        "energy_j",
        "avg_power_w",
        "batch_latency_p50_s",
        "batch_latency_p90_s",
        "batch_latency_p99_s",
        "ttft_p50_s",
        "ttft_p90_s",
        "itl_p50_s",
        "tpot_p50_s",
        "tpot_p90_s",
        "e2e_latency_p90_s",
        "mbu_decode",
        "mfu_prefill",
        "prefill_j_per_input_token",
        "decode_j_per_output_token",
        "speculative_acceptance_rate",
        "energy_j_per_accepted_token",
    ):
        row[key] = m.get(key)
    row["power_limit_w"] = spec.get("hardware", {}).get("power_limit_w")
    for key in CI_KEYS:
        row[f"{key}_ci95_low"] = _stat(rec, key, "ci95_low") if run.ok else None
        row[f"{key}_ci95_high"] = _stat(rec, key, "ci95_high") if run.ok else None
    return row


UNKNOWN_SCOPE = "unknown"


def energy_scope(record: dict) -> str:
    """What a result's joules cover ("gpu", "gpu+cpu+dram", ...), as the result says
    (metrics.energy_scope); "unknown" for a result that does not say (an older llem)."""
    scope = (record.get("metrics") or {}).get("energy_scope") or record.get("energy_scope")
    return str(scope) if scope else UNKNOWN_SCOPE


def mixed_scopes(rows: list[dict]) -> dict[str, int]:
    """{scope: runs} of the runs with energy measured, when they are more than one scope (else {})."""
    counts: dict[str, int] = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("energy_j_per_output_token") is not None:
            counts[r.get("energy_scope") or UNKNOWN_SCOPE] = counts.get(r.get("energy_scope") or UNKNOWN_SCOPE, 0) + 1
    return counts if len(counts) > 1 else {}


def sort_rows(rows: list[dict]) -> list[dict]:
    """By the label keys, then the settings that differ; numbers as numbers (16 before 64, 0.5 before 0.9)."""
    keys = list(LABEL_KEYS) + varying_keys(rows, setting_keys(rows))

    def part(v):
        return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v or ""))

    return sorted(rows, key=lambda r: tuple(part(r.get(k)) for k in keys))


def varying_keys(rows: list[dict], keys=None) -> list[str]:
    """Which label keys differ between rows (default: LABEL_KEYS, then engine settings). An engine
    setting differs only where two runs that have it set it differently: one engine's settings
    are told apart by the backend already, so a series is not labelled by all of them."""
    if keys is None:
        keys = list(LABEL_KEYS) + setting_keys(rows)
    return [k for k in keys if len({r.get(k) for r in rows if r.get(k) is not None or not k.startswith(SETTING_PREFIXES)}) > 1]


def settings_caption(rows: list[dict], cols: list[tuple[str, str]], varying: set) -> str:
    """What the caption says the runs share ("all runs: ..."), and, after it, the settings only some
    engines have ("llamacpp only: flash_attn False, ..."): an engine's own setting that no other run has is
    not something all runs share. `cols`: (key, name) of the candidate columns; `varying`: those that differ."""
    shared, own = [], {}
    for k, name in cols:
        if k in varying:
            continue
        have = [r for r in rows if r.get(k) is not None]
        if not have:
            continue
        if len(have) == len(rows):
            shared.append(f"{name} {have[0].get(k)}")
        else:  # a setting of some engines only (varying_keys counts a missing value of any other key as a value)
            engines = tuple(sorted({str(r.get("backend")) for r in have}))
            own.setdefault(engines, []).append(f"{name} {have[0].get(k)}")
    parts = (["all runs: " + ", ".join(shared)] if shared else []) + [
        f"{' and '.join(engines)} only: " + ", ".join(items) for engines, items in sorted(own.items())
    ]
    return "; ".join(parts)


def label(row: dict, keys: list[str]) -> str:
    short = {"batch_size": "bs", "input_tokens": "in", "output_tokens": "out"}
    parts = [
        f"{short[k]}{row.get(k)}"
        if k in short
        else f"{setting_name(k)}={row.get(k)}"
        if k.startswith(SETTING_PREFIXES)
        else str(row.get(k))
        for k in keys
        if row.get(k) is not None
    ]  # a setting the engine does not have is not shown
    return " ".join(parts) or str(row.get("backend"))


def write_csv(rows: list[dict], path: Path, columns: list[str] = CSV_COLUMNS) -> None:
    """The rows' `columns` as CSV (report.csv by default; llem/report/sessions.py writes sessions.csv with it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:  # a missing value is an empty cell, never 0
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})


def _num(v, spec=".4g") -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:{spec}}"


def _with_ci(row: dict, key: str, spec: str = ".4g") -> str:
    v = row.get(key)
    if v is None:
        return "[dim]n/a[/dim]"
    lo, hi = row.get(f"{key}_ci95_low"), row.get(f"{key}_ci95_high")
    if lo is None or hi is None:
        return _num(v, spec)
    half = max(hi - v, v - lo)  # the longer side: an interval need not be symmetric (llem/results/stats.py)
    shown = "0" if abs(half) < 1e-6 * abs(v) else (f"{half:,.0f}" if half >= 100 else f"{half:.2g}")
    return f"{_num(v, spec)} [dim]±{shown}[/dim]"


def _like(text: Optional[str]) -> str:
    from rich.markup import escape

    if not text:
        return ""
    style = {"no": "bold red", "unverified": "yellow", "yes": "green"}.get(text.split(":")[0].split(" ")[0], "dim")
    return f"[{style}]{escape(text)}[/{style}]"


def render_table(rows: list[dict], title: str) -> None:
    """Columns for what differs between the runs; what they share goes in the caption."""
    from rich.table import Table

    config_cols = [
        ("backend", "backend"),
        ("model", "model"),
        ("hardware", "hw"),
        ("dtype", "dtype"),
        ("batch_size", "bs"),
        ("input_tokens", "in"),
        ("output_tokens", "out"),
    ]
    config_cols += setting_columns(rows)
    if mixed_scopes(rows):  # llem report --mixed-scopes: what each run's joules cover, in its row
        config_cols.append(("energy_scope", "energy scope"))
    measured = [r for r in rows if r["status"] == "ok"] or rows  # a failed run's missing fields are not a difference
    varying = set(varying_keys(measured, [k for k, _ in config_cols]))
    caption = settings_caption(measured, config_cols, varying)
    t = Table(title=title, title_justify="left", caption=caption or None, caption_justify="left")
    t.add_column("config")
    # the headline first (J/token with its interval, throughput, power, latency, status), then the settings
    for name in ("J/token ±CI", "tok/s ±CI", "avg W", "p50 s", "status"):
        t.add_column(name, justify="left" if name == "status" else "right", no_wrap=name != "status")
    compared = any(r.get("like_for_like") for r in rows)  # llem/results/comparison.py: each run against its reference
    if compared:
        t.add_column("like for like")
    for key, name in config_cols:
        if key in varying:
            t.add_column(name, justify="right" if key in ("batch_size", "input_tokens", "output_tokens") else "left")
    for r in rows:
        status = "[green]ok[/green]" if r["status"] == "ok" else f"[red]{r['status']}[/red]"
        if r["status"] == "ok" and r.get("validity_flags"):
            status = "[yellow]flagged[/yellow]"
        jpt = _with_ci(r, "energy_j_per_output_token", ".4g") if r["status"] == "ok" else "[dim]n/a[/dim]"
        if r.get("energy_basis") == "estimate":
            jpt += " [yellow]estimate[/yellow]"
        if r["status"] == "ok" and r.get("energy_j_per_output_token") is None:
            jpt = "[yellow]not measured[/yellow]"
        cells = [str(r.get("config_hash") or "")[:8]]
        cells += [
            jpt,
            _with_ci(r, "output_tokens_per_s", ".4g"),
            _num(r.get("avg_power_w"), ".1f"),
            _num(r.get("batch_latency_p50_s"), ".3f"),
            status,
        ]
        if compared:
            cells.append(_like(r.get("like_for_like")))
        cells += ["" if r.get(k) is None else str(r.get(k)) for k, _ in config_cols if k in varying]
        t.add_row(*cells)
    con = console()
    con.print(t)
    for reason in sorted({r["energy_reason"] for r in rows if r.get("energy_reason")}):
        con.print(f"[yellow]energy not measured[/yellow] for some runs: {reason}")
    for r in rows:
        if r["status"] != "ok":
            con.print(f"[red]{r['status']}[/red] {r['run_id']}: {r.get('error')}")
