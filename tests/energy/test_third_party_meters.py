"""energy=zeus and energy=codecarbon for real: the installed Zeus and CodeCarbon (CI's test extra),
driven through llem, reading the replayed 300 W GPU through their own `import pynvml`
(tests/energy/replayed_pynvml/), and checked against the counter values they were served.

CodeCarbon is offline (OfflineEmissionsTracker) and only asks whether `nvidia-smi` runs before it
uses NVML; a stand-in that exits 0 is put on PATH for that question alone."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, llem_env, require_module, results_under, run_llem
from replay_traces import POWER_W, STEP_J, constant_power_trace

pytestmark = pytest.mark.slow
SHIM = Path(__file__).resolve().parent / "replayed_pynvml"
FAST = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=4",
    "workload.batch_size=4",
    "workload.input_tokens=16",
    "workload.output_tokens=16",
    "run.repeats=2",
    "run.warmup=1",
    "energy.baseline_s=0.5",
    "run.min_window_s=1",
]  # windows of >= 10 of the replayed counter's 100 ms updates


def replayed_env(tmp_path: Path) -> dict:
    constant_power_trace(tmp_path / "trace.csv")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n# test stand-in: CodeCarbon only asks whether it runs\nexit 0\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    env = llem_env(
        LLEM_FAKE_NVML_TRACE=tmp_path / "trace.csv",
        LLEM_POWERCAP_ROOT=tmp_path / "no-powercap",
        LLEM_REPLAYED_PYNVML_LOG=tmp_path / "reads.csv",
    )
    env["PYTHONPATH"] = os.pathsep.join([str(SHIM), str(REPO), env.get("PYTHONPATH", "")])
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def counter_reads(tmp_path: Path) -> list[int]:
    """Every energy-counter value (mJ) the meter was served, in order."""
    return [int(line.split(",")[1]) for line in (tmp_path / "reads.csv").read_text().splitlines()]


def test_zeus_through_llem_reports_the_replayed_joules(tmp_path):
    require_module("zeus", "Zeus", "pip install 'llem[zeus]'")
    out = run_llem(FAST + ["energy=zeus", f"run.output_root={tmp_path}"], tmp_path, env=replayed_env(tmp_path))
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(tmp_path)
    assert result["energy"]["meter"]["zeus_version"] == importlib.metadata.version("zeus")
    base = result["energy"]["baseline"]["measurement"]
    measured = [base] + [w["energy"] for w in result["windows"]]
    # Zeus reads the counter once at begin_window and once at end_window: its windows (the baseline,
    # the measured ones, and llem's cool-down and post-baseline checks between them) are the
    # consecutive pairs of reads it was served, and the ones in the result are among them, in order.
    reads = counter_reads(tmp_path)
    assert len(reads) % 2 == 0
    pairs = iter(zip(reads[::2], reads[1::2]))
    for m in measured:
        assert m["meter"] == "zeus" and m["reason"] is None
        joules = m["total_j"]
        assert any(joules == (end - begin) / 1000 for begin, end in pairs), (m, reads)
        assert m["energy_j"] == {"gpu0": joules}
        assert abs(joules - POWER_W * m["duration_s"]) < STEP_J + 1e-6  # the replayed 300 W
    for w in result["windows"]:
        assert w["energy_j"] == w["energy"]["total_j"]
        assert w["energy_j_per_output_token"] == pytest.approx(w["energy_j"] / w["output_tokens"])
    assert result["energy"]["baseline"]["power_w"] == pytest.approx(POWER_W, abs=STEP_J / base["duration_s"])


ZERO_WINDOW = """
import json, time
from llem.energy.zeus import ZeusMeter
m = ZeusMeter([0], include_cpu=False)
out = []
for i in range(20):  # 2 ms windows on a counter that moves every 100 ms: most see no step
    m.begin(f"w{i}")
    time.sleep(0.002)
    out.append(m.end(f"w{i}").to_dict())
    if out[-1]["total_j"] is None:
        break
print(json.dumps(out))
"""


def test_zeus_window_that_saw_no_counter_step_is_none_with_a_reason_not_zero(tmp_path):
    require_module("zeus", "Zeus", "pip install 'llem[zeus]'")
    out = subprocess.run(
        [sys.executable, "-c", ZERO_WINDOW], env=replayed_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    windows = json.loads(out.stdout.strip().splitlines()[-1])
    last = windows[-1]
    assert last["total_j"] is None and last["energy_j"] == {"gpu0": None}
    assert "gpu0: Zeus reported 0.0 J (the counter did not move during the window)" in last["reason"]
    for w in windows[:-1]:  # windows that straddled a step: exactly one 30 J step
        assert w["total_j"] == STEP_J


def test_codecarbon_through_llem_reports_the_replayed_gpu_joules_and_marks_estimates(tmp_path):
    require_module("codecarbon", "CodeCarbon", "pip install 'llem[codecarbon]'")
    out = run_llem(
        FAST + ["energy=codecarbon", "energy.codecarbon_country=FRA", f"run.output_root={tmp_path}"],
        tmp_path,
        env=replayed_env(tmp_path),
    )
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(tmp_path)
    meter = result["energy"]["meter"]
    assert meter["meter"] == "codecarbon" and meter["estimate"] is True and meter["country_iso_code"] == "FRA"
    reads = counter_reads(tmp_path)
    deltas = {(b - a) / 1000 for i, a in enumerate(reads) for b in reads[i + 1 :]}
    base = result["energy"]["baseline"]["measurement"]
    for m in [base] + [w["energy"] for w in result["windows"]]:
        gpu = m["energy_j"]["gpu_estimate"]
        # CodeCarbon's GPU figure is a difference of two counter reads it was served (through kWh)
        assert min(abs(gpu - d) for d in deltas) < 1e-3, (gpu, sorted(deltas)[:10])
        assert abs(gpu - POWER_W * m["duration_s"]) < STEP_J + 1e-3  # the replayed 300 W
        # CPU and RAM are CodeCarbon's models (no RAPL here): present, positive, and labelled estimates
        assert m["energy_j"]["cpu_estimate"] > 0 and m["energy_j"]["ram_estimate"] > 0
        assert m["total_j"] == pytest.approx(sum(m["energy_j"].values()))
    assert result["metrics"]["co2e_g"] is None  # CodeCarbon's own emissions figure is not used


def test_codecarbon_is_given_system_gpu_indices_not_the_jobs_logical_ones(monkeypatch):
    """CodeCarbon's integer gpu_ids index all the machine's GPUs (NVML order); the job's GPU 0 under
    CUDA_VISIBLE_DEVICES=2,3 is system GPU 2, and a UUID entry is passed on for CodeCarbon to match."""
    require_module("codecarbon", "CodeCarbon", "pip install 'llem[codecarbon]'")
    import codecarbon

    from llem.energy.codecarbon import CodeCarbonMeter, system_gpu_ids
    from llem.errors import UserError

    made = {}

    class Recorder:
        def __init__(self, **kw):
            made.update(kw)

        def start(self):
            pass

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", Recorder)
    meter = CodeCarbonMeter([0, 1], visible="2,3")
    assert made["gpu_ids"] == [2, 3] and meter.describe()["gpu_ids"] == [2, 3]
    assert system_gpu_ids([1], "GPU-aaaa,GPU-bbbb") == ["GPU-bbbb"] and system_gpu_ids([0, 1], None) == [0, 1]
    with pytest.raises(UserError, match="lists 1 GPU"):
        system_gpu_ids([1], "3")
