"""Prefill vs decode (run.phases=true, offline engines): prefill-only windows (the same prompts,
one output token) beside the full windows give

- prefill: J per input token = a prefill-only pass's energy / its input tokens;
- decode: J per output token = (a full pass's energy - a prefill-only pass's energy) / the tokens
  decode produced (all output tokens but each request's first, which comes from the prefill);
- the time split: a prefill-only pass's duration against a full pass's.

What the split assumes (stated in every result): a full pass spends on its prefill what a
prefill-only pass spends on the same prompts in the same batches, and the rest of it is decode.
That holds where each batch prefills and then decodes (PyTorch, llama.cpp, static batching); under
continuous batching (vLLM, SGLang) one request's prefill overlaps another's decode, and the split
is the marginal cost of the decode tokens, not a partition of the window's time.
Uncertainties: the 95% interval half-widths of the two means (llem/results/stats.py; the longer side where
skewness made one asymmetric), combined in quadrature (the windows are independent).

Prefill J per input token is mostly a fixed cost per engine call where prompts are short (a pass's
launch and weight reads, and idle power over its milliseconds: vLLM on an H200, 7.77 J per pass of which
4.9 J was idle power over 40 ms), so it misleads when engines are compared. Prefill-only windows at a
second prompt length (the same prompts cut to half, the same calls) split it (`prefill_split`): with
E(T) = calls x F + k x T per pass, k = (E_long - E_short) / (T_long - T_short) J per input token and
F = (E_long - k T_long) / calls J per call, dynamic (idle energy taken out) first, then total.
"""

from __future__ import annotations

import math
from typing import Optional

from llem.results.stats import summarize

ASSUMPTION = (
    "a full pass spends on its prefill what a prefill-only pass (same prompts, same batches, one output "
    "token) spends; the rest is decode. Exact where each batch prefills then decodes; under continuous "
    "batching prefill and decode of different requests overlap and this is the decode tokens' marginal cost"
)


def _per_pass(records: list[dict], field: str) -> list[Optional[float]]:
    return [None if r.get(field) is None else r[field] / r.get("passes", 1) for r in records]


def _mean_half(values: list[Optional[float]]) -> tuple[Optional[float], Optional[float]]:
    st = summarize(values)
    if st is None:
        return None, None
    # the longer side of an interval that skewness made asymmetric (llem/results/stats.py)
    half = None if st["ci95_high"] is None else max(st["ci95_high"] - st["mean"], st["mean"] - st["ci95_low"])
    return st["mean"], half


def _ratio(mean: Optional[float], half: Optional[float], count: float) -> dict:
    if mean is None or not count:
        return {"mean": None, "ci95_half": None}
    return {"mean": mean / count, "ci95_half": None if half is None else half / count}


def _difference(a: tuple, b: tuple) -> tuple[Optional[float], Optional[float]]:
    (ma, ha), (mb, hb) = a, b
    if ma is None or mb is None:
        return None, None
    return ma - mb, (math.hypot(ha, hb) if ha is not None and hb is not None else None)


def _calls_per_pass(w: dict) -> Optional[int]:
    calls = w.get("batch_requests")
    if not calls:
        return None
    return len(calls) // max(1, int(w.get("passes", 1)))


def prefill_split(long: list[dict], short: list[dict]) -> dict:
    """Fixed (per engine call) and per-input-token parts of a prefill-only pass, from windows at two prompt
    lengths with the same calls; dynamic figures first. Null with the reason where they cannot be split."""
    t_long = long[0]["input_tokens"] / long[0].get("passes", 1) if long else 0
    t_short = short[0]["input_tokens"] / short[0].get("passes", 1) if short else 0
    calls = _calls_per_pass(long[0]) if long else None
    out = {
        "method": "E(T) = calls x F + k x T per prefill-only pass, at two prompt lengths (the prompts, and "
        "the same prompts cut to half)",
        "input_tokens_per_pass": [t_long, t_short],
        "calls_per_pass": calls,
        "short_windows": short,
    }
    why = None
    if not short or t_long <= t_short:
        why = "no prefill-only windows at a second, shorter prompt length"
    elif not calls or (short and _calls_per_pass(short[0]) != calls):
        why = "the two prompt lengths did not run as the same engine calls"
    for kind, field in (("dynamic_", "dynamic_energy_j"), ("", "energy_j")):
        names = (f"prefill_{kind}j_per_call", f"prefill_{kind}j_per_input_token_marginal")
        (el, hl), (es, hs) = _mean_half(_per_pass(long, field)), _mean_half(_per_pass(short, field))
        if why or el is None or es is None:
            out.update({n: {"mean": None, "ci95_half": None} for n in names})
            continue
        dt = t_long - t_short
        k = (el - es) / dt
        fixed = (el - k * t_long) / calls  # = (t_long es - t_short el) / (dt calls)
        k_half = math.hypot(hl, hs) / dt if hl is not None and hs is not None else None
        f_half = math.hypot(t_short * hl, t_long * hs) / (dt * calls) if hl is not None and hs is not None else None
        out[names[0]] = {"mean": fixed, "ci95_half": f_half}
        out[names[1]] = {"mean": k, "ci95_half": k_half}
    if why:
        out["reason"] = why
    return out


def phase_split(full: list[dict], prefill: list[dict], requests: int, short: Optional[list[dict]] = None) -> dict:
    """The result's `phases` record from the full and the prefill-only windows (and, where measured, the
    prefill-only windows at half the prompt length: `prefill_split`)."""
    in_tokens = prefill[0]["input_tokens"] / prefill[0].get("passes", 1) if prefill else 0
    out_tokens = full[0]["output_tokens"] / full[0].get("passes", 1) if full else 0
    decode_tokens = out_tokens - requests  # each request's first token came out of its prefill
    out = {
        "assumption": ASSUMPTION,
        "prefill_windows": prefill,
        "input_tokens_per_pass": in_tokens,
        "decode_tokens_per_pass": decode_tokens,
    }
    for kind, field in (("", "energy_j"), ("dynamic_", "dynamic_energy_j")):
        e_full, e_pre = _mean_half(_per_pass(full, field)), _mean_half(_per_pass(prefill, field))
        out[f"prefill_{kind}j_per_input_token"] = _ratio(*e_pre, in_tokens)
        out[f"decode_{kind}j_per_output_token"] = _ratio(*_difference(e_full, e_pre), decode_tokens)
    t_full, t_pre = _mean_half(_per_pass(full, "duration_s")), _mean_half(_per_pass(prefill, "duration_s"))
    out["prefill_s_per_pass"] = {"mean": t_pre[0], "ci95_half": t_pre[1]}
    out["decode_s_per_pass"] = dict(zip(("mean", "ci95_half"), _difference(t_full, t_pre)))
    out["prefill_time_share"] = t_pre[0] / t_full[0] if t_pre[0] is not None and t_full[0] else None
    if short is not None:
        out["prefill_split"] = prefill_split(prefill, short)
    if out["decode_j_per_output_token"]["mean"] is not None and out["decode_j_per_output_token"]["mean"] < 0:
        out["flag"] = (
            "decode energy came out negative: the prefill-only windows cost more than the full ones (noise or a short window)"
        )
    return out
