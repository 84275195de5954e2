"""report.html: one self-contained page (no network: plots inline as base64 PNG, its CSS and its
few lines of JS inline) with the runs table (CIs, validity flags; sortable, filterable), the comparison
certificate, multi-turn sessions per turn, every plot, per-run details and the environments the runs were measured in."""

from __future__ import annotations

import base64
import json
import time
from html import escape
from pathlib import Path
from typing import Optional

import llem
from llem.paths import ENVIRONMENT
from llem.report.certificate import html as certificate_html
from llem.report.collect import Run
from llem.report.numbers import plain, with_ci
from llem.report.paper import HEADLINE_ORDER, config_columns
from llem.report.sessions import html as sessions_html
from llem.results.io import read_json

ASSETS = Path(__file__).parent / "assets"
# environment.json fields shown per environment (the whole snapshot is in each run's details)
ENV_FIELDS = (
    "hostname",
    "os",
    "python",
    "cpu_model",
    "cpu_count",
    "cpu_affinity",
    "memory_total_gib",
    "cuda_visible_devices",
    "slurm_job_id",
    "llem_version",
    "llem_git_revision",
)


def _status(row: dict) -> str:
    if row.get("status") != "ok":
        return "failed"
    return "flagged" if row.get("validity_flags") else "ok"


def _measure_cell(row: dict, key: str) -> str:
    v = row.get(key)
    if row.get("status") != "ok":
        return '<td class="num" data-v=""></td>'
    if v is None:
        return '<td class="num nm" data-v="" title="{}">not measured</td>'.format(escape(row.get("energy_reason") or ""))
    value, half = with_ci(v, row.get(f"{key}_ci95_low"), row.get(f"{key}_ci95_high"))
    ci = f' <span class="ci">± {half}</span>' if half else ""
    return f'<td class="num" data-v="{v!r}">{value}{ci}</td>'


def _runs_table(rows: list[dict]) -> str:
    config, settings = config_columns(rows)
    # the headline first (J/token with its interval, throughput, power, latency, status and flags), then the settings
    measures = HEADLINE_ORDER
    compared = any(r.get("like_for_like") for r in rows)  # each run against its group's reference
    head = (
        ["run"]
        + [f"{h} ({u})" for _, h, u in measures]
        + ["status"]
        + (["like for like"] if compared else [])
        + [h for _, h in config]
    )
    numeric = {h for k, h in config if k in ("batch_size", "input_tokens", "output_tokens")}
    ths = "".join(f'<th class="{"num" if h in numeric or "(" in h else ""}" scope="col">{escape(h)}</th>' for h in head)
    body = []
    for r in rows:
        st = _status(r)
        cells = [f'<td><a href="#run-{escape(str(r.get("run_id")))}">{escape(str(r.get("config_hash") or "")[:8])}</a></td>']
        cells += [_measure_cell(r, k) for k, _, _ in measures]
        why = r.get("validity_flags") if st == "flagged" else r.get("error") if st == "failed" else ""
        cells.append(f'<td class="status-{st}" title="{escape(why or "")}">{st}</td>')
        if compared:
            like = r.get("like_for_like") or ""
            cells.append(f'<td class="l4l-{escape(like.split(":")[0].split(" ")[0])}">{escape(like)}</td>')
        for k, h in config:
            v = r.get(k)
            attr = f' class="num" data-v="{v}"' if h in numeric and v is not None else ""
            cells.append(f"<td{attr}>{escape('' if v is None else str(v))}</td>")
        body.append(f'<tr data-status="{st}">{"".join(cells)}</tr>')
    caption = (settings + ". ") if settings else ""
    return (
        f'<p class="caption">{escape(caption)}Mean ± 95% CI half-width over the measured windows; '
        f"click a header to sort.</p>"
        '<div class="controls"><input id="filter" type="search" placeholder="filter runs (e.g. vllm bs16)">'
        '<select id="status"><option value="">any status</option><option>ok</option><option>flagged</option>'
        '<option>failed</option></select><span id="shown" class="note"></span></div>'
        f'<table id="runs"><thead><tr>{ths}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _description(path: Path) -> str:
    """The text a report plot carries in its PNG metadata (what it shows, or why it is empty)."""
    try:
        from PIL import Image
    except ImportError:
        return ""
    with Image.open(path) as im:
        return getattr(im, "text", {}).get("Description", "")


def _figures(files: dict) -> str:
    out = []
    for key, path in files.items():
        if not isinstance(path, Path) or path.suffix != ".png" or not path.is_file():
            continue
        data, desc = path.read_bytes(), _description(path)
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        out.append(
            f'<figure><img alt="{escape(key)}" src="{src}"><figcaption>{escape(path.name)}'
            f"{': ' + escape(desc) if desc else ''}</figcaption></figure>"
        )
    return "".join(out) or '<p class="note">no plots (--no-plots, or matplotlib is not installed)</p>'


def _kv(items) -> str:
    return (
        '<table class="kv">'
        + "".join(f"<tr><td>{escape(str(k))}</td><td><code>{escape(str(v))}</code></td></tr>" for k, v in items)
        + "</table>"
    )


def _windows(record: dict) -> str:
    keys = ("duration_s", "output_tokens", "output_tokens_per_s", "energy_j", "energy_j_per_output_token", "avg_power_w")
    head = "".join(f'<th class="num">{k}</th>' for k in ("window",) + keys)
    rows = []
    for w in record.get("windows") or []:
        cells = "".join(f'<td class="num">{plain(w.get(k)) if isinstance(w.get(k), (int, float)) else "n/m"}</td>' for k in keys)
        rows.append(f'<tr><td class="num">{w.get("index")}</td>{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows else ""


def _flat(prefix: str, value) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flat(f"{prefix}.{k}" if prefix else str(k), v)]
    return [(prefix, json.dumps(value) if isinstance(value, (list, type(None))) else value)]


def _run_details(run: Run, row: dict) -> str:
    rec = run.record
    ident = rec.get("identity", {})
    parts = [
        f'<details id="run-{escape(str(row.get("run_id")))}"><summary>{escape(str(row.get("run_id")))} '
        f'<span class="status-{_status(row)}">{_status(row)}</span></summary>'
    ]
    flags = (rec.get("validity") or {}).get("flags") or []
    if flags:
        parts.append('<ul class="flags">' + "".join(f"<li>{escape(f)}</li>" for f in flags) + "</ul>")
    if rec.get("status") != "ok":
        parts.append(f'<p class="status-failed">{escape(str(row.get("error")))}</p>')
    metrics = [(k, v) for k, v in (rec.get("metrics") or {}).items() if v is not None]
    parts.append("<h4>identity</h4>" + _kv((k, v) for k, v in ident.items() if v is not None))
    if (rec.get("requests") or {}).get("prompt_token_ids_sha256"):
        parts.append(_kv([("prompt token ids sha256", rec["requests"]["prompt_token_ids_sha256"])]))
    if metrics:
        parts.append("<h4>metrics (means over the windows)</h4>" + _kv(metrics))
    parts.append(_windows(rec))
    parts.append("<h4>spec (resolved)</h4>" + _kv(_flat("", rec.get("spec") or {})))
    meter = (rec.get("energy") or {}).get("meter")
    if meter:
        parts.append("<h4>energy meter</h4>" + _kv(_flat("", meter)))
    if run.run_dir is not None:
        parts.append(f'<p class="note">run dir: <code>{escape(str(run.run_dir))}</code></p>')
    return "".join(parts) + "</details>"


def _environment(run: Run) -> Optional[dict]:
    if run.run_dir is None or not (run.run_dir / ENVIRONMENT).is_file():
        return None
    try:
        return read_json(run.run_dir / ENVIRONMENT)
    except (OSError, ValueError):
        return None


def _environments(runs: list[Run]) -> str:
    """One block per distinct environment (host, packages, GPUs), naming the runs measured in it."""
    groups: dict[str, tuple[dict, list[str]]] = {}
    for run in runs:
        env = _environment(run)
        if env is None:
            continue
        shown = {k: env.get(k) for k in ENV_FIELDS}
        shown["gpus"] = env.get("gpus")
        shown["packages"] = env.get("packages")
        key = json.dumps(shown, sort_keys=True, default=str)
        groups.setdefault(key, (env, []))[1].append(str(run.record.get("identity", {}).get("run_id")))
    if not groups:
        return '<p class="note">no environment.json in these runs</p>'
    out = []
    for i, (env, names) in enumerate(groups.values(), 1):
        items = [(k, env.get(k)) for k in ENV_FIELDS if env.get(k) is not None]
        for g in env.get("gpus") or []:
            if isinstance(g, dict):
                items.append((f"gpu {g.get('index', '')}", ", ".join(f"{k}={v}" for k, v in g.items() if k != "index")))
        items += [(f"package {k}", v) for k, v in sorted((env.get("packages") or {}).items()) if v]
        out.append(f'<h3>environment {i} ({len(names)} runs)</h3><p class="note">{escape(", ".join(names))}</p>{_kv(items)}')
    return "".join(out)


def write_html(
    rows: list[dict],
    runs: list[Run],
    files: dict,
    path: Path,
    title: str,
    source: str,
    certs: Optional[list[dict]] = None,
    sessions: Optional[list[dict]] = None,
) -> Path:
    by_id = {str(r.record.get("identity", {}).get("run_id")): r for r in runs}
    details = "".join(_run_details(by_id[str(row["run_id"])], row) for row in rows if str(row["run_id"]) in by_id)
    counts = {s: sum(_status(r) == s for r in rows) for s in ("ok", "flagged", "failed")}
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="llem {escape(llem.__version__)}">
<title>{escape(title)}</title><style>{(ASSETS / "report.css").read_text(encoding="utf-8")}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">{len(rows)} runs ({counts["ok"]} ok, {counts["flagged"]} flagged, {counts["failed"]} failed) from
<code>{escape(source)}</code>; written by llem {escape(llem.__version__)} on {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.</p>
<h2>Runs</h2>{_runs_table(rows)}
<h2>Comparison certificate</h2>{certificate_html(certs or [])}
<h2>Multi-turn sessions</h2>{sessions_html(sessions or [])}
<h2>Plots</h2>{_figures(files)}
<h2>Run details</h2>{details}
<h2>Environment</h2>{_environments(runs)}
<script>{(ASSETS / "report.js").read_text(encoding="utf-8")}</script>
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
