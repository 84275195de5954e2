"""Which windows of a sweep's jobs ran at the same time, on which GPUs (llem/sweep/concurrency.py)."""

from __future__ import annotations

import pytest

from llem.sweep.concurrency import metered_gpus, overlap_lines, window_overlaps


def result(run_id: str, uuids: list[str], spans: list[tuple[float, float]], status: str = "ok") -> dict:
    devices = {f"gpu{i}": {"uuid": u} for i, u in enumerate(uuids)}
    return {
        "status": status,
        "identity": {"run_id": run_id},
        "energy": {"meter": {"meter": "nvml+rapl", "parts": [{"meter": "nvml", "devices": devices}, {"meter": "rapl"}]}},
        "windows": [
            {"index": i, "started_unix_s": a, "duration_s": b - a, "energy": {"interval_unix_s": [a + 0.01, b - 0.01]}}
            for i, (a, b) in enumerate(spans)
        ],
    }


def test_overlapping_windows_of_jobs_on_disjoint_gpus_are_recorded_with_their_gpus():
    a = result("a", ["GPU-0"], [(0, 10), (12, 22)])
    b = result("b", ["GPU-1"], [(5, 15), (30, 40)])
    c = result("c", ["GPU-2"], [(50, 60)])
    assert metered_gpus(a) == ["GPU-0"]
    found = window_overlaps([a, b, c, result("d", ["GPU-3"], [(0, 100)], status="failed")])
    assert [(o["runs"], o["windows"]) for o in found] == [(["a", "b"], [0, 0]), (["a", "b"], [1, 0])]
    assert found[0]["overlap_s"] == pytest.approx(10 - 0.01 - 5.01)  # the meter's own interval, not the wall span
    assert found[0]["gpus"] == {"a": ["GPU-0"], "b": ["GPU-1"]} and found[0]["shared_gpus"] == []
    assert overlap_lines(found) == [
        "2 measured window(s) of 1 job pair(s) ran at the same time (recorded as "
        "concurrent_windows in the sweep summary), each job on its own GPUs"
    ]


def test_jobs_one_after_another_record_nothing_and_a_shared_gpu_says_the_numbers_mix():
    assert window_overlaps([result("a", ["GPU-0"], [(0, 10)]), result("b", ["GPU-0"], [(10, 20)])]) == []
    assert overlap_lines([]) == []
    shared = window_overlaps([result("a", ["GPU-0", "GPU-1"], [(0, 10)]), result("b", ["GPU-1"], [(5, 15)])])
    assert shared[0]["shared_gpus"] == ["GPU-1"]
    assert overlap_lines(shared)[0].endswith("; they metered the same GPU(s) GPU-1: their energy numbers mix")
