"""Power limit and locked clocks as sweep axes, on the replayed NVML (never on a real GPU here):
applied before the job's engine loads, restored after it, also when the job fails or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, llem_env, run_llem

TRACE = REPO / "tests" / "data" / "nvml_trace_h100.csv"
UUID = "GPU-fake0000-0000-0000-0000-000000000000"


def _env(tmp_path: Path, **extra) -> dict:
    return llem_env(
        LLEM_FAKE_NVML_TRACE=str(TRACE),
        LLEM_FAKE_NVML_STATE=str(tmp_path / "gpu-state.json"),
        LLEM_CACHE_DIR=str(tmp_path / "cache"),
        **extra,
    )


def _gpu_state(tmp_path: Path) -> dict:
    path = tmp_path / "gpu-state.json"
    return json.loads(path.read_text()).get(UUID, {}) if path.is_file() else {}


BASE = [
    "model=tiny",
    "hardware=auto",
    "tracking=none",
    "workload.num_prompts=2",
    "workload.batch_size=2",
    "workload.output_tokens=4",
    "run.repeats=1",
    "run.warmup=0",
    "energy.baseline_s=0",
]


def test_applied_and_restored_in_process(tmp_path, monkeypatch):
    from llem.energy import gpu_settings
    from llem.testing.fake_nvml import FakeNvml
    from llem.config.spec import HardwareSpec

    for k, v in _env(tmp_path).items():
        monkeypatch.setenv(k, v)
    nvml = FakeNvml.from_csv(TRACE)
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(0)
    hw = HardwareSpec(name="x", power_limit_w=300, sm_clocks_mhz=1200)
    with pytest.raises(RuntimeError, match="engine failed"):
        with gpu_settings.applied(hw, [0]) as state:
            assert nvml.nvmlDeviceGetPowerManagementLimit(h) == 300_000  # another process's view: the state file
            assert _gpu_state(tmp_path)["sm_locked"] == [1200, 1200]
            record = json.loads((tmp_path / "cache" / "gpu-restore" / f"{UUID}.json").read_text())
            assert record["power_limit_mw"] == 700_000 and record["pid"] == os.getpid()
            raise RuntimeError("engine failed")
    assert nvml.nvmlDeviceGetPowerManagementLimit(h) == 700_000 and _gpu_state(tmp_path)["sm_locked"] is None
    assert state["restored"] is True and not list((tmp_path / "cache" / "gpu-restore").glob("*.json"))


def test_a_job_records_what_it_set_and_leaves_the_gpu_as_it_was(tmp_path):
    proc = run_llem(
        [*BASE, "hardware.power_limit_w=250", "hardware.sm_clocks_mhz=[900,1400]", "hardware.mem_clock_mhz=2619"],
        tmp_path,
        env=_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stdout
    [result] = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/runs/*/result.json")]
    gs = result["gpu_settings"]
    assert gs["settings"] == {"power_limit_w": 250.0, "sm_clocks_mhz": [900, 1400], "mem_clock_mhz": 2619}
    assert gs["gpus"] == [UUID] and gs["restored"] is True
    assert _gpu_state(tmp_path) == {"power_limit_mw": 700_000, "sm_locked": None, "mem_locked": None}
    assert result["spec"]["hardware"]["power_limit_w"] == 250.0


def test_unset_settings_keep_the_config_hash_of_earlier_runs(tmp_path):
    # measured before the fields existed: this command's run dir was ...-edaa0b8ed0c4 (llem at 1e42d2e)
    proc = run_llem(["model=tiny", "hardware=cpu", "tracking=none", "run.repeats=2", "--cfg", "job"], tmp_path)
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=["model=tiny", "hardware=cpu", "tracking=none", "run.repeats=2"])
    spec = build_spec(plain_config(cfg))
    assert proc.returncode == 0 and "power_limit_w: null" in proc.stdout
    assert spec.config_hash() == "edaa0b8ed0c4"
    limited = build_spec(dict(plain_config(cfg), hardware=dict(plain_config(cfg)["hardware"], device="auto", power_limit_w=300)))
    assert limited.config_hash() != spec.config_hash()


def test_no_permission_is_one_sentence_and_exit_2(tmp_path):
    proc = run_llem([*BASE, "hardware.power_limit_w=250"], tmp_path, env=_env(tmp_path, LLEM_FAKE_NVML_NO_PERMISSION="1"))
    assert proc.returncode == 2, proc.stdout
    assert "hardware.power_limit_w=250 cannot be applied: this process may not change the GPU's settings" in proc.stdout
    assert "Traceback" not in proc.stdout


def test_out_of_range_and_cpu_are_refused_before_anything_loads(tmp_path):
    cpu = run_llem([*BASE[:1], "hardware=cpu", *BASE[2:], "hardware.power_limit_w=250"], tmp_path, env=_env(tmp_path))
    assert cpu.returncode == 2 and "hardware=cpu is the CPU" in cpu.stdout
    bad = run_llem([*BASE, "hardware.sm_clocks_mhz=[1400,900]"], tmp_path, env=_env(tmp_path))
    assert bad.returncode == 2 and "is not a range" in bad.stdout
    high = run_llem([*BASE, "hardware.power_limit_w=900"], tmp_path, env=_env(tmp_path))
    assert high.returncode == 2 and "outside this GPU's range 100-700 W" in high.stdout


def test_a_killed_job_leaves_a_record_that_gpu_restore_undoes(tmp_path):
    env = _env(tmp_path)
    args = [*BASE, "hardware.power_limit_w=200", "run.repeats=50", "workload.output_tokens=64"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llem", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while _gpu_state(tmp_path).get("power_limit_mw") != 200_000:
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.poll() is not None else "timeout"
            )
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole job at once: nothing gets to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _gpu_state(tmp_path)["power_limit_mw"] == 200_000  # left changed
    [record] = list((tmp_path / "cache" / "gpu-restore").glob("*.json"))
    listed = run_llem(["gpu-restore", "--list"], tmp_path, env=env)
    assert listed.returncode == 0 and '"power_limit_mw": 700000' in listed.stdout
    fixed = run_llem(["gpu-restore"], tmp_path, env=env)
    assert fixed.returncode == 0 and f"{UUID} restored (power_limit_w)" in fixed.stdout, fixed.stdout
    assert _gpu_state(tmp_path)["power_limit_mw"] == 700_000 and not record.exists()
    again = run_llem(["gpu-restore"], tmp_path, env=env)
    assert again.returncode == 0 and "nothing to restore" in again.stdout


def test_the_next_job_restores_what_a_killed_one_left(tmp_path):
    from llem.energy import gpu_settings
    from llem.testing.fake_nvml import FakeNvml

    env = _env(tmp_path)
    os.environ.update({k: env[k] for k in ("LLEM_FAKE_NVML_STATE", "LLEM_CACHE_DIR")})
    try:
        nvml = FakeNvml.from_csv(TRACE)
        nvml.nvmlInit()
        h = nvml.nvmlDeviceGetHandleByIndex(0)
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        stale = {
            "uuid": UUID,
            "pid": int(dead.stdout),
            "written_unix_s": 0,
            "changed": ["power_limit_w"],
            "power_limit_mw": 700_000,
        }
        (gpu_settings.restore_dir() / f"{UUID}.json").write_text(json.dumps(stale))
        nvml.nvmlDeviceSetPowerManagementLimit(h, 150_000)
        out = gpu_settings.restore_stale(nvml)
        assert [o["restored"] for o in out] == [True]
        assert nvml.nvmlDeviceGetPowerManagementLimit(h) == 700_000
    finally:
        for k in ("LLEM_FAKE_NVML_STATE", "LLEM_CACHE_DIR"):
            os.environ.pop(k, None)
