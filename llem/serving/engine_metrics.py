"""What a server's own Prometheus endpoint says about prefill and decode (server mode).

An engine whose server exports, per finished request, the time it spent in prefill (scheduled to first
token) and in decode (first to last token) as histograms names those series in its Engine
(`phase_series`, llem/backends/<name>/__init__.py). Scraped right before and after a run, their sums give
the run's request-time split: prefill seconds / (prefill + decode seconds), summed over its requests.
With many requests in flight that is a share of request-time, not of wall time (the phases of
different requests overlap). An engine whose server exports counters of another kind names them in
`phase_series` too and reads them with its own `phase_reader` ("module:function" (before, after) ->
the same dict; e.g. llama-server's slot-time counters, llem/backends/llamacpp/server_metrics.py).
An engine that names no series, or a server that exports none of them, gives null with the reason."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Callable, Mapping, Optional

KEYS = ("prefill_sum", "prefill_count", "decode_sum", "decode_count")  # what an engine's phase_series maps
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


def parse(text: str, series: Mapping[str, str]) -> dict[str, float]:
    """Prometheus text exposition: the sum over label sets of each series llem reads."""
    wanted = {v: k for k, v in series.items()}
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1) in wanted:
            key = wanted[m.group(1)]
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def metrics_text(url: str, timeout_s: float = 10.0) -> str:
    """The server's /metrics page as text (loopback, no proxy); OSError (URLError) where it does not answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url.rstrip("/") + "/metrics", timeout=timeout_s) as resp:
        return resp.read().decode("utf-8", errors="replace")


def read_counters(url: str, parse_text: Callable[[str], Optional[dict]], timeout_s: float = 10.0) -> Optional[dict]:
    """An engine's own counters from its server's /metrics, parsed by its folder's parser; None where the
    server does not answer or the page cannot be parsed."""
    try:
        return parse_text(metrics_text(url, timeout_s))
    except (OSError, ValueError):
        return None


def scrape(
    url: str,
    series: Optional[Mapping[str, str]],
    backend: str = "this",
    timeout_s: float = 2.0,
    required: Optional[tuple[str, ...]] = KEYS,
) -> tuple[Optional[dict], Optional[str]]:
    """(series, None) or (None, why not). `required`: the keys that must all be found (None: any one)."""
    if not series:
        return None, f"the {backend} engine names no per-request prefill/decode series of its server"
    try:
        text = metrics_text(url, timeout_s)
    except (urllib.error.URLError, OSError) as exc:
        return None, f"the server has no /metrics endpoint ({getattr(exc, 'reason', exc)})"
    found = parse(text, series)
    needed = required if required is not None else ()
    if not found or any(k not in found for k in needed):
        first = series.get("prefill_sum") or next(iter(series.values()))
        return None, f"the server's /metrics exports no per-request prefill/decode times ({first})"
    return found, None


def phase_share(
    before: Optional[dict],
    after: Optional[dict],
    reason: Optional[str],
    series: Optional[Mapping[str, str]] = None,
    reader: Optional[Callable[[dict, dict], dict]] = None,
) -> dict:
    """The run's prefill/decode request-time split from two scrapes of `series` (the engine's reader, if any)."""
    if before is None or after is None:
        return {"prefill_share": None, "reason": reason}
    if reader is not None:
        return reader(before, after)
    d = {k: after[k] - before[k] for k in KEYS}
    total = d["prefill_sum"] + d["decode_sum"]
    return {
        "prefill_s": d["prefill_sum"],
        "decode_s": d["decode_sum"],
        "requests": d["prefill_count"],
        "prefill_share": d["prefill_sum"] / total if total > 0 else None,
        "reason": None if total > 0 else "no request finished between the two scrapes",
        "source": f"engine's Prometheus counters ({', '.join((series or {}).get(k, k) for k in ('prefill_sum', 'decode_sum'))})",
        "meaning": "share of the run's request-time spent in prefill (requests overlap: not a share of wall time)",
    }
