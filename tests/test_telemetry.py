"""Usage reporting is off for llem's jobs and the servers it starts (llem/host/telemetry.py), unless the user
set a variable; checked against the installed libraries' own switches (vLLM, MLflow). An engine's own
switches are declared in its folder (Engine.telemetry_off) and set before its Backend or server plan loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import server_environment
from llem.registry import engine
from llem.host.telemetry import OPT_OUTS, opt_out


def test_opt_out_fills_what_the_user_left_unset_and_keeps_what_they_set():
    env = opt_out({"DO_NOT_TRACK": "0", "PATH": "/bin"})
    assert env["DO_NOT_TRACK"] == "0" and env["PATH"] == "/bin"  # the user's choice stands
    assert {k: env[k] for k in OPT_OUTS if k != "DO_NOT_TRACK"} == {k: v for k, v in OPT_OUTS.items() if k != "DO_NOT_TRACK"}


_PROBE = """
import json
from mlflow.telemetry.utils import is_telemetry_disabled
import vllm.envs as envs
print(json.dumps({"mlflow_disabled": is_telemetry_disabled(), "vllm_no_usage_stats": envs.VLLM_NO_USAGE_STATS,
                  "vllm_do_not_track": envs.VLLM_DO_NOT_TRACK}))
"""


def _probe(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_libraries_read_them_as_off():
    pytest.importorskip("mlflow")
    pytest.importorskip("vllm")
    # a bare environment: MLflow also stays silent wherever it sees a CI or pytest variable, which would hide a miss
    bare = {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH") if k in os.environ}
    assert _probe(bare) == {"mlflow_disabled": False, "vllm_no_usage_stats": False, "vllm_do_not_track": False}
    env = opt_out(dict(bare))
    engine("vllm").opt_out(env)
    assert _probe(env) == {"mlflow_disabled": True, "vllm_no_usage_stats": True, "vllm_do_not_track": True}
    # DO_NOT_TRACK=1 alone leaves MLflow on (it reads "true"): why llem sets MLflow's own variable as well
    assert _probe(dict(bare, DO_NOT_TRACK="1"))["mlflow_disabled"] is False


def test_a_server_llem_starts_gets_them(tmp_path, monkeypatch):
    for key in OPT_OUTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")  # set by the user: kept
    seen = server_environment(tmp_path)
    assert seen["HF_HUB_DISABLE_TELEMETRY"] == "0"
    assert {k: seen[k] for k in OPT_OUTS if k != "HF_HUB_DISABLE_TELEMETRY"} == {
        k: v for k, v in OPT_OUTS.items() if k != "HF_HUB_DISABLE_TELEMETRY"
    }
