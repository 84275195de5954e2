"""Issue 19 on a two-GPU replayed NVML (no second real GPU): two jobs launched together by
`hydra/launcher=local hydra.launcher.parallel=true` on `hardware.gpus=[0]` and `[1]`. Each meters
only its own GPU (the fake's second GPU draws twice the first's power), reports per-GPU and total
energy that an independent reading of both counters confirms, and the sweep records that their
windows overlapped in time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import llem_env, run_llem
from launcher_helpers import TINY, results

from llem.testing.fake_nvml import FAKE_EPOCH_ENV, FAKE_GPUS_ENV, FAKE_TRACE_ENV, FakeNvml, fake_devices
from llem.paths import SWEEP_SUMMARY

TRACE = Path(__file__).resolve().parent.parent / "data" / "nvml_trace_h100.csv"


class _At:
    """A clock the test sets: the independent reader reads both counters at the window's own edges."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_parallel_jobs_on_disjoint_fake_gpus_meter_their_own(tmp_path):
    epoch = time.monotonic()  # CLOCK_MONOTONIC is system-wide: every process replays the same moment
    env = llem_env(**{FAKE_TRACE_ENV: TRACE, FAKE_EPOCH_ENV: repr(epoch), FAKE_GPUS_ENV: "1,2"})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop("LLEM_LAUNCH_CUDA_VISIBLE_DEVICES", None)
    args = [
        "--multirun",
        "hydra/launcher=local",
        "hydra.launcher.parallel=true",
        *TINY,
        "run.repeats=3",
        "run.min_window_s=3",
        "hardware.gpus=[0],[1]",
        f"run.output_root={tmp_path}",
    ]
    proc = run_llem(args, cwd=tmp_path, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    done = {r["spec"]["hardware"]["gpus"][0]: r for r in results(tmp_path)}
    assert sorted(done) == [0, 1] and all(r["status"] == "ok" for r in done.values())
    gpus = fake_devices("1,2")
    at = _At(epoch)
    poller = FakeNvml.from_csv(TRACE, devices=gpus, epoch=epoch, clock=at)  # an independent reading of both counters
    poller.nvmlInit()

    def counters(t: float) -> list[float]:
        at.t = t
        return [poller.nvmlDeviceGetTotalEnergyConsumption(g) / 1000 for g in gpus]

    for physical, r in done.items():
        meter = r["energy"]["meter"]
        [nvml] = [p for p in meter.get("parts", [meter]) if p["meter"] == "nvml"]
        assert nvml["devices"].keys() == {"gpu0"}  # one GPU metered ...
        assert nvml["devices"]["gpu0"]["uuid"] == gpus[physical].uuid  # ... its own
        per_gpu = r["energy"]["per_device"]["gpu0"]  # per-GPU energy beside the total, with the GPU's UUID
        assert per_gpu["uuid"] == gpus[physical].uuid and per_gpu["energy_j"]["n"] == len(r["windows"])
        assert per_gpu["energy_j"]["mean"] == pytest.approx(
            sum(w["energy"]["energy_j"]["gpu0"] for w in r["windows"]) / len(r["windows"])
        )
        for w in r["windows"]:
            e = w["energy"]
            assert e["total_j"] == pytest.approx(sum(v for k, v in e["energy_j"].items() if v is not None))
            begin, end = counters(e["interval_monotonic_s"][0]), counters(e["interval_monotonic_s"][1])
            own = [b - a for a, b in zip(begin, end)]
            step_j = 2 * 0.1 * 700 * gpus[physical].energy_scale  # one ~100 ms step per edge at up to 700 W
            assert abs(e["energy_j"]["gpu0"] - own[physical]) <= step_j, (w["index"], e["energy_j"], own)
            other = own[1 - physical]
            assert abs(e["energy_j"]["gpu0"] - other) > abs(e["energy_j"]["gpu0"] - own[physical])  # not the other GPU's
    summary = json.loads(next((tmp_path / "hydra").rglob(SWEEP_SUMMARY)).read_text())
    overlaps = summary["concurrent_windows"]
    assert overlaps, "the two jobs' windows never overlapped in time"
    assert all(o["shared_gpus"] == [] and o["overlap_s"] > 0 for o in overlaps)
    assert all(sorted(map(tuple, o["gpus"].values())) == [(gpus[0].uuid,), (gpus[1].uuid,)] for o in overlaps)
    assert "ran at the same time (recorded as concurrent_windows in the sweep summary), each job on its own GPUs" in proc.stdout
