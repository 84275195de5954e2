"""What a server's own Prometheus endpoint says about prefill and decode (server mode).

vLLM exports, per finished request, the time it spent in prefill (scheduled to first token) and in
decode (first to last token) as histograms (`vllm:request_prefill_time_seconds`,
`vllm:request_decode_time_seconds`). Scraped right before and after a run, their sums give the
run's request-time split: prefill seconds / (prefill + decode seconds), summed over its requests.
With many requests in flight that is a share of request-time, not of wall time (the phases of
different requests overlap).

llama.cpp's llama-server (with --metrics) exports counters of the same kind summed over its slots
(`llamacpp:prompt_seconds_total`, `llamacpp:tokens_predicted_seconds_total`), the prompt tokens it
evaluated and those it reused from a slot's cache, its llama_decode calls, and the mean busy slots
per call since it started: differenced, the run's own mean batch occupancy. It prints them with six
significant digits, so differences of counters above a million are that coarse.

Servers that export no such counters (llama-cpp-python's, SGLang's without --enable-metrics) give
null with the reason."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Optional

SERIES = {"prefill_sum": "vllm:request_prefill_time_seconds_sum", "prefill_count": "vllm:request_prefill_time_seconds_count",
          "decode_sum": "vllm:request_decode_time_seconds_sum", "decode_count": "vllm:request_decode_time_seconds_count"}
LLAMA_SERVER = {"prompt_s": "llamacpp:prompt_seconds_total", "predicted_s": "llamacpp:tokens_predicted_seconds_total",
                "prompt_tokens": "llamacpp:prompt_tokens_total", "cached_tokens": "llamacpp:prompt_tokens_cached_total",
                "n_decode": "llamacpp:n_decode_total", "busy_per_decode": "llamacpp:n_busy_slots_per_decode"}
_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


def parse(text: str) -> dict[str, float]:
    """Prometheus text exposition: the sum over label sets of each series llem reads."""
    wanted = {v: k for k, v in {**SERIES, **LLAMA_SERVER}.items()}
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(1) in wanted:
            key = wanted[m.group(1)]
            out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def scrape(url: str, timeout_s: float = 2.0) -> tuple[Optional[dict], Optional[str]]:
    """(series, None) or (None, why not)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout_s) as resp:  # noqa: S310 - loopback
            text = resp.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return None, f"the server has no /metrics endpoint ({getattr(exc, 'reason', exc)})"
    series = parse(text)
    if all(k in series for k in SERIES) or all(k in series for k in LLAMA_SERVER if k != "cached_tokens"):
        return series, None
    return None, ("the server's /metrics exports no per-request prefill/decode times (vLLM's request_prefill_time_seconds, "
                  "llama-server's prompt_seconds_total)")


def phase_share(before: Optional[dict], after: Optional[dict], reason: Optional[str]) -> dict:
    """The run's prefill/decode request-time split from two scrapes."""
    if before is None or after is None:
        return {"prefill_share": None, "reason": reason}
    if "prompt_s" in before and "prompt_s" in after:
        return _llama_server_share(before, after)
    d = {k: after[k] - before[k] for k in SERIES}
    total = d["prefill_sum"] + d["decode_sum"]
    return {"prefill_s": d["prefill_sum"], "decode_s": d["decode_sum"], "requests": d["prefill_count"],
            "prefill_share": d["prefill_sum"] / total if total > 0 else None,
            "reason": None if total > 0 else "no request finished between the two scrapes",
            "source": "engine's Prometheus counters (vllm:request_prefill_time_seconds, request_decode_time_seconds)",
            "meaning": "share of the run's request-time spent in prefill (requests overlap: not a share of wall time)"}


def _llama_server_share(before: dict, after: dict) -> dict:
    d = {k: after[k] - before[k] for k in LLAMA_SERVER if k in before and k in after and k != "busy_per_decode"}
    total = d["prompt_s"] + d["predicted_s"]
    # busy slots summed over decode calls = mean x calls; the run's mean is the difference over the run's calls
    busy = after["busy_per_decode"] * after["n_decode"] - before["busy_per_decode"] * before["n_decode"]
    return {"prefill_s": d["prompt_s"], "decode_s": d["predicted_s"], "requests": None,
            "prefill_share": d["prompt_s"] / total if total > 0 else None,
            "reason": None if total > 0 else "no request finished between the two scrapes",
            "llama_decode_calls": d["n_decode"],
            "busy_slots_per_decode": busy / d["n_decode"] if d["n_decode"] > 0 else None,
            "prompt_tokens_evaluated": d["prompt_tokens"], "prompt_tokens_cached": d.get("cached_tokens"),
            "source": "llama-server's Prometheus counters (llamacpp:prompt_seconds_total, tokens_predicted_seconds_total, "
                      "n_decode_total, n_busy_slots_per_decode, prompt_tokens_total, prompt_tokens_cached_total)",
            "meaning": "share of the run's slot-time spent in prompt processing (slots overlap: not a share of wall time); "
                       "busy_slots_per_decode: the run's mean sequences per llama_decode call (its batch occupancy)"}
