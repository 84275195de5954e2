"""Window metrics, their statistics and latency percentiles on numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from llem.results.metrics import STAT_FIELDS, latency_summary, summarize_windows, window_metrics
from llem.results.stats import percentile, summarize, t975


def test_window_metrics_from_joules_time_and_tokens():
    # 2 s, 4 requests, 100 in / 400 out tokens, 600 J, idle 100 W, grid 360 g/kWh
    w = window_metrics(2.0, 4, 100, 400, 600.0, 100.0, 360.0)
    assert w == {
        "duration_s": 2.0,
        "requests": 4,
        "input_tokens": 100,
        "output_tokens": 400,
        "output_tokens_per_s": 200.0,
        "requests_per_s": 2.0,
        "energy_j": 600.0,
        "dynamic_energy_j": 400.0,  # 600 J - 100 W x 2 s
        "energy_j_per_output_token": 1.5,
        "dynamic_energy_j_per_output_token": 1.0,
        "energy_j_per_request": 150.0,
        "output_tokens_per_j": 400 / 600,
        "avg_power_w": 300.0,
        "energy_delay_j_s": 1200.0,
        "co2e_g": 0.06,  # 600 J = 1/6000 kWh, x 360 g
    }


def test_missing_joules_leave_every_energy_figure_none_never_zero():
    w = window_metrics(2.0, 4, 100, 400, None, 100.0, 360.0)
    energy_keys = [k for k in w if "energy" in k or "_j" in k or "power" in k or "co2" in k]
    assert len(energy_keys) == 9 and all(w[k] is None for k in energy_keys)
    assert w["output_tokens_per_s"] == 200.0
    no_base = window_metrics(2.0, 4, 100, 400, 600.0, None, None)
    assert no_base["dynamic_energy_j"] is None and no_base["dynamic_energy_j_per_output_token"] is None
    assert no_base["co2e_g"] is None and no_base["energy_j"] == 600.0
    zero_out = window_metrics(0.0, 0, 0, 0, 600.0, 100.0, 360.0)  # nothing to divide by: None, not inf or 0
    assert zero_out["output_tokens_per_s"] is None and zero_out["energy_j_per_output_token"] is None
    assert zero_out["energy_j_per_request"] is None and zero_out["avg_power_w"] is None
    assert zero_out["dynamic_energy_j"] == 600.0 and zero_out["output_tokens_per_j"] == 0.0


def test_statistics_over_windows_by_hand():
    windows = [window_metrics(d, 1, 1, 10, j, None, None) for d, j in ((1.0, 10.0), (2.0, None), (3.0, 30.0))]
    s = summarize_windows(windows)
    assert set(s) == set(STAT_FIELDS)
    e = s["energy_j"]
    # 10 and 30: mean 20, sample sd sqrt(200) = 14.142, CI mean +- 12.706 x 14.142 / sqrt 2 = +- 127.06
    assert (e["n"], e["n_missing"], e["mean"], e["min"], e["max"]) == (2, 1, 20.0, 10.0, 30.0)
    assert e["std"] == pytest.approx(math.sqrt(200)) and e["cv"] == pytest.approx(math.sqrt(200) / 20)
    assert (e["ci95_low"], e["ci95_high"]) == (pytest.approx(20 - 127.06), pytest.approx(20 + 127.06))
    d = s["duration_s"]
    assert d["n"] == 3 and "n_missing" not in d and d["mean"] == 2.0 and d["std"] == pytest.approx(1.0)
    assert d["ci95_high"] == pytest.approx(2 + 4.303 / math.sqrt(3))
    assert s["co2e_g"] is None  # nothing measured: no statistics, not zeros


def test_summary_of_one_value_and_of_a_zero_mean():
    one = summarize([5.0])
    assert one == {"n": 1, "mean": 5.0, "std": None, "cv": None, "ci95_low": None, "ci95_high": None, "min": 5.0, "max": 5.0}
    assert summarize([]) is None and summarize([None, None]) is None
    z = summarize([-1.0, 1.0])
    assert z["mean"] == 0.0 and z["cv"] is None and z["std"] == pytest.approx(math.sqrt(2))
    assert summarize([2, 2, 2])["std"] == 0.0 and summarize([2, 2, 2])["cv"] == 0.0


def test_percentiles_interpolate_like_numpy():
    xs = [4.0, 1.0, 3.0, 2.0]  # sorted 1 2 3 4: p50 2.5, p90 3.7, p0 1, p100 4
    assert [percentile(xs, q) for q in (0, 50, 90, 100)] == [1.0, 2.5, pytest.approx(3.7), 4.0]
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0


# scipy.stats.t.ppf(0.975, df), for the degrees of freedom past the table
T975_EXACT = {31: 2.039513446396408, 40: 2.021075390306273, 60: 2.0002978220142604, 120: 1.9799304050824402}


def test_student_t_critical_values():
    assert (t975(1), t975(2), t975(10), t975(30)) == (12.706, 4.303, 2.228, 2.042)
    with pytest.raises(ValueError, match="^df must be >= 1$"):
        t975(0)


@pytest.mark.parametrize("df", sorted(T975_EXACT))
def test_student_t_past_the_table_is_cornish_fisher_to_second_order(df):
    # What the two-term expansion leaves out is its third-order term, g3 / df^3 with
    # g3 = (3z^7 + 19z^5 + 17z^3 - 15z) / 384: the error must be that, not merely "small".
    z = 1.959964
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    assert t975(df) - T975_EXACT[df] == pytest.approx(-g3 / df**3, rel=0.03)


def test_latency_summary_over_windows():
    windows = [
        {"batch_latency_s": [1.0, 3.0], "batch_ttft_s": [0.1, None]},
        {"batch_latency_s": [2.0]},
        {"batch_latency_s": [], "batch_ttft_s": [0.3, 0.2]},
    ]
    s = latency_summary(windows)
    assert s["batches"] == 3 and s["batch_latency_mean_s"] == 2.0
    assert s["batch_latency_p50_s"] == 2.0 and s["batch_latency_p90_s"] == pytest.approx(2.8)
    assert s["batch_latency_p99_s"] == pytest.approx(2.98)
    # TTFTs where the engine gave them (None is "not exposed", not 0): 0.1 0.2 0.3
    assert s["ttft_p50_s"] == 0.2 and s["ttft_p90_s"] == pytest.approx(0.28)
    empty = latency_summary([{"batch_latency_s": []}])
    assert empty["batches"] == 0 and empty["batch_latency_mean_s"] is None and empty["ttft_p50_s"] is None
