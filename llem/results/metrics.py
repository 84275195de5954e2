"""Per-window metrics derived from tokens, time and joules. Missing joules stay None, never 0."""

from __future__ import annotations

from typing import Optional

from llem.results.stats import percentile, summarize

# Window fields summarised over repeats (mean, std, CV, 95% CI).
STAT_FIELDS = (
    "duration_s",
    "output_tokens_per_s",
    "requests_per_s",
    "energy_j",
    "dynamic_energy_j",
    "energy_j_per_output_token",
    "dynamic_energy_j_per_output_token",
    "energy_j_per_request",
    "output_tokens_per_j",
    "avg_power_w",
    "energy_delay_j_s",
    "co2e_g",
)


def _div(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or not b else a / b


def window_metrics(
    duration_s: float,
    requests: int,
    input_tokens: int,
    output_tokens: int,
    energy_j: Optional[float],
    baseline_power_w: Optional[float],
    grid_g_per_kwh: Optional[float],
) -> dict:
    dynamic = None if energy_j is None or baseline_power_w is None else energy_j - baseline_power_w * duration_s
    return {
        "duration_s": duration_s,
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "output_tokens_per_s": _div(output_tokens, duration_s),
        "requests_per_s": _div(requests, duration_s),
        "energy_j": energy_j,
        "dynamic_energy_j": dynamic,
        "energy_j_per_output_token": _div(energy_j, output_tokens),
        "dynamic_energy_j_per_output_token": _div(dynamic, output_tokens),
        "energy_j_per_request": _div(energy_j, requests),
        "output_tokens_per_j": _div(output_tokens, energy_j),
        "avg_power_w": _div(energy_j, duration_s),
        "energy_delay_j_s": None if energy_j is None else energy_j * duration_s,
        "co2e_g": None if energy_j is None or grid_g_per_kwh is None else energy_j / 3.6e6 * grid_g_per_kwh,
    }


def summarize_windows(windows: list[dict]) -> dict:
    return {f: summarize([w.get(f) for w in windows]) for f in STAT_FIELDS}


def latency_summary(windows: list[dict]) -> dict:
    """Per engine call (a batch; a request for engines that run requests one at a time)."""
    lat = [b for w in windows for b in w["batch_latency_s"]]
    ttft = [t for w in windows for t in w.get("batch_ttft_s", []) if t is not None]
    return {
        "batches": len(lat),
        "batch_latency_p50_s": percentile(lat, 50),
        "batch_latency_p90_s": percentile(lat, 90),
        "batch_latency_p99_s": percentile(lat, 99),
        "batch_latency_mean_s": sum(lat) / len(lat) if lat else None,
        # None where the engine does not expose it (transformers' generate)
        "ttft_p50_s": percentile(ttft, 50),
        "ttft_p90_s": percentile(ttft, 90),
    }
