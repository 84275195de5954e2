"""Goodput and SLOs on requests whose latencies are known by construction (no clock involved)."""

from __future__ import annotations

import pytest

from llem.serving.metrics import goodput
from llem.workload.records import RequestOutput


def request(name: str, ttft: float, gaps: list[float], error: str | None = None, sent: float = 10.0) -> RequestOutput:
    """A request sent at `sent`, first token `ttft` later, then one token (one chunk each) after each gap."""
    tokens = [sent + ttft]
    for g in gaps:
        tokens.append(tokens[-1] + g)
    return RequestOutput(
        id=name,
        scheduled_s=sent,
        sent_s=sent,
        chunk_s=tokens,
        chunk_tokens=[1] * len(tokens),
        done_s=None if error else tokens[-1] + 0.001,
        error=error,
    )


# TTFT, and TPOT = mean gap after the first token
REQUESTS = [
    request("fast", 0.10, [0.02] * 4),  # TTFT 0.10, TPOT 0.02: within both
    request("slow-start", 0.60, [0.02] * 4),  # TTFT 0.60: breaks the TTFT SLO
    request("slow-decode", 0.10, [0.02, 0.20]),  # TPOT 0.11: breaks the TPOT SLO
    request("edge", 0.50, [0.0625, 0.0625]),  # exactly at both limits (binary-exact times): within (<=)
    request("one-token", 0.20, []),  # no TPOT: cannot break that SLO
    request("failed", 0.05, [0.01], error="HTTP 500: boom"),  # fast but failed: never good
]


def test_latencies_are_what_was_built():
    by_id = {o.id: o for o in REQUESTS}
    assert by_id["slow-decode"].tpot_s == pytest.approx(0.11) and by_id["edge"].ttft_s == pytest.approx(0.5)
    assert by_id["edge"].tpot_s == 0.0625 and by_id["one-token"].tpot_s is None and not by_id["failed"].ok


@pytest.mark.parametrize(
    "ttft,tpot,good",
    [
        (0.5, 0.0625, {"fast", "edge", "one-token"}),
        (0.5, None, {"fast", "slow-decode", "edge", "one-token"}),
        (None, 0.0625, {"fast", "slow-start", "edge", "one-token"}),
        (0.09, 0.0625, set()),
        (1.0, 0.01, {"one-token"}),
    ],
)
def test_goodput_counts_exactly_the_requests_within_every_slo(ttft, tpot, good):
    g = goodput(REQUESTS, 4.0, ttft, tpot)
    assert g["slo_ttft_s"] == ttft and g["slo_tpot_s"] == tpot
    assert g["requests_within_slo"] == len(good)
    assert g["fraction_within_slo"] == pytest.approx(len(good) / 6)
    assert g["goodput_requests_per_s"] == pytest.approx(len(good) / 4.0)


def test_no_slo_means_no_goodput_rather_than_a_number():
    assert goodput(REQUESTS, 4.0, None, None) is None
    empty = goodput([], 0.0, 0.5, None)
    assert empty["requests_within_slo"] == 0 and empty["fraction_within_slo"] is None
    assert empty["goodput_requests_per_s"] is None
