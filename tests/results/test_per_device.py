"""Each metered device's joules beside the total (llem/results/per_device.py), in the result and in
what MLflow gets: a job over two GPUs reports both, by key and UUID; a missing value stays None."""

from __future__ import annotations

import pytest

from llem.results.per_device import meter_devices, per_device_energy
from llem.tracking import payload

METER = {
    "meter": "nvml+rapl",
    "parts": [
        {
            "meter": "nvml",
            "devices": {"gpu0": {"uuid": "GPU-b", "visible_as": "1"}, "gpu1": {"uuid": "GPU-a", "visible_as": "0"}},
        },
        {"meter": "rapl", "devices": ["package-0"]},
    ],
}
WINDOWS = [
    {"energy": {"energy_j": {"gpu0": 100.0, "gpu1": 60.0, "cpu-package-0": 20.0}, "total_j": 180.0}},
    {"energy": {"energy_j": {"gpu0": 110.0, "gpu1": None, "cpu-package-0": 22.0}, "total_j": None}},
]


def test_each_device_its_uuid_and_its_joules_over_the_windows():
    assert meter_devices(METER) == {"gpu0": {"uuid": "GPU-b", "visible_as": "1"}, "gpu1": {"uuid": "GPU-a", "visible_as": "0"}}
    out = per_device_energy(WINDOWS, METER)
    assert sorted(out) == ["cpu-package-0", "gpu0", "gpu1"]
    assert out["gpu0"]["uuid"] == "GPU-b" and out["gpu0"]["energy_j"]["mean"] == pytest.approx(105.0)
    assert out["gpu0"]["energy_j"]["n"] == 2 and out["gpu0"]["energy_j"]["ci95_low"] < 105.0
    assert out["gpu1"]["energy_j"] == {
        "n": 1,
        "mean": 60.0,
        "std": None,
        "cv": None,
        "ci95_low": None,
        "ci95_high": None,
        "min": 60.0,
        "max": 60.0,
        "n_missing": 1,
    }
    assert out["cpu-package-0"]["uuid"] is None
    assert per_device_energy([{"energy": {"energy_j": {"gpu0": None}}}], METER)["gpu0"]["energy_j"] is None


def test_mlflow_gets_one_metric_per_device():
    record = {
        "status": "ok",
        "identity": {"finished_unix_s": 1.0},
        "metrics": {},
        "energy": {"per_device": per_device_energy(WINDOWS, METER)},
    }
    m = {k: v for k, v, _ts, _step in payload.metrics(record)}
    assert m["gpu0.energy_j"] == pytest.approx(105.0) and m["gpu1.energy_j"] == 60.0 and m["cpu-package-0.energy_j"] == 21.0
    record["energy"]["per_device"]["gpu1"]["energy_j"] = None
    assert "gpu1.energy_j" not in {k for k, *_ in payload.metrics(record)}  # not measured: not logged, never 0
