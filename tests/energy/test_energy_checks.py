"""Energy settings that cannot work here fail validation with one sentence, before any model loads."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import llem_env, run_llem

from llem.config.spec import build_spec
from llem.errors import UserError

BASE = {
    "backend": {"name": "pytorch"},
    "model": {"name": "tiny", "source": "builtin", "id": "tiny"},
    "hardware": {"name": "cpu", "device": "cpu"},
    "workload": {"name": "synthetic", "source": "synthetic", "num_prompts": 2, "input_tokens": 8, "output_tokens": 4},
}


def spec_with(energy: dict):
    return build_spec(dict(BASE, energy=energy))


@pytest.fixture(autouse=True)
def no_sensors(tmp_path, monkeypatch):
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path / "none"))
    monkeypatch.delenv("LLEM_FAKE_NVML_TRACE", raising=False)


def test_nvml_on_a_cpu_job():
    with pytest.raises(UserError, match=r"energy=nvml meters the job's NVIDIA GPUs but hardware=cpu runs on CPU"):
        spec_with({"meter": "nvml"})


def test_rapl_without_powercap_fails_in_the_job_before_the_model_loads(tmp_path):
    # Sensors are checked where the job runs (the submitting host may be a login node).
    assert spec_with({"meter": "rapl"}).energy.meter == "rapl"
    out = run_llem(
        ["model=tiny", "hardware=cpu", "energy=rapl", "tracking=none"],
        tmp_path,
        timeout=120,
        env=llem_env(LLEM_POWERCAP_ROOT=tmp_path / "none"),
    )
    assert out.returncode == 2, out.stdout
    assert "energy=rapl cannot measure here" in out.stdout and "Traceback" not in out.stdout
    assert "loading tiny" not in out.stdout  # refused before the model loads
    assert not list(tmp_path.glob("outputs/runs/*/result.json"))


@pytest.mark.parametrize("meter", ["zeus", "codecarbon"])
def test_optional_meter_not_installed(meter, monkeypatch):
    monkeypatch.setitem(sys.modules, meter, None)  # absent, whether or not CI installed it
    assert importlib.util.find_spec(meter) is None
    with pytest.raises(UserError, match=rf"run pip install 'llem\[{meter}\]'"):
        spec_with({"meter": meter})


def test_auto_and_none_always_validate():
    assert spec_with({"meter": "auto"}).energy.meter == "auto"
    assert spec_with({"meter": "none"}).energy.meter == "none"


def test_cli_exit_code_2_without_traceback(tmp_path):
    out = run_llem(
        ["model=tiny", "hardware=cpu", "energy=nvml"], tmp_path, timeout=120, env=llem_env(LLEM_POWERCAP_ROOT=tmp_path / "none")
    )
    assert out.returncode == 2, out.stdout
    assert "energy=nvml meters the job's NVIDIA GPUs" in out.stdout
    assert "Traceback" not in out.stdout
