"""llama.cpp's llama-server (with --metrics) exports counters summed over its slots: the slot-time spent
on prompts and on predicted tokens (`llamacpp:prompt_seconds_total`, `llamacpp:tokens_predicted_seconds_total`),
the prompt tokens it evaluated and those it reused from a slot's cache, its llama_decode calls, and the
mean busy slots per call since it started: differenced, the run's own mean batch occupancy. It prints
them with six significant digits, so differences of counters above a million are that coarse.
llama-cpp-python's server exports none of them (its runs give null with the reason)."""

from __future__ import annotations

SERIES = {
    "prompt_s": "llamacpp:prompt_seconds_total",
    "predicted_s": "llamacpp:tokens_predicted_seconds_total",
    "prompt_tokens": "llamacpp:prompt_tokens_total",
    "cached_tokens": "llamacpp:prompt_tokens_cached_total",
    "n_decode": "llamacpp:n_decode_total",
    "busy_per_decode": "llamacpp:n_busy_slots_per_decode",
}
REQUIRED = ("prompt_s", "predicted_s", "prompt_tokens", "n_decode", "busy_per_decode")  # cached_tokens: newer servers


def phase_share(before: dict, after: dict) -> dict:
    """The run's prompt/predict slot-time split and mean busy slots per llama_decode call."""
    missing = [SERIES[k] for k in REQUIRED if k not in before or k not in after]
    if missing:
        return {"prefill_share": None, "reason": f"the server's /metrics lacks {', '.join(missing)}"}
    d = {k: after[k] - before[k] for k in SERIES if k in before and k in after and k != "busy_per_decode"}
    total = d["prompt_s"] + d["predicted_s"]
    # busy slots summed over decode calls = mean x calls; the run's mean is the difference over the run's calls
    busy = after["busy_per_decode"] * after["n_decode"] - before["busy_per_decode"] * before["n_decode"]
    return {
        "prefill_s": d["prompt_s"],
        "decode_s": d["predicted_s"],
        "requests": None,
        "prefill_share": d["prompt_s"] / total if total > 0 else None,
        "reason": None if total > 0 else "no request finished between the two scrapes",
        "llama_decode_calls": d["n_decode"],
        "busy_slots_per_decode": busy / d["n_decode"] if d["n_decode"] > 0 else None,
        "prompt_tokens_evaluated": d["prompt_tokens"],
        "prompt_tokens_cached": d.get("cached_tokens"),
        "source": "llama-server's Prometheus counters (llamacpp:prompt_seconds_total, tokens_predicted_seconds_total, "
        "n_decode_total, n_busy_slots_per_decode, prompt_tokens_total, prompt_tokens_cached_total)",
        "meaning": "share of the run's slot-time spent in prompt processing (slots overlap: not a share of wall time); "
        "busy_slots_per_decode: the run's mean sequences per llama_decode call (its batch occupancy)",
    }
