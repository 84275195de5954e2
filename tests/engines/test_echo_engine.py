"""An engine from outside llem, found through the entry point, measured offline and in server mode
(its own loopback HTTP server) by one `--multirun` sweep: what adding an engine costs (docs/architecture.md,
"Adding an engine")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import llem_env, results_under, run_llem

# The package, installed with pip for this session into a folder of its own, as a third party's engine would
# be installed beside llem: llem finds it only through its `llem.engines` entry point (importlib.metadata
# reads the installed dist-info on the path).
PACKAGE = Path(__file__).resolve().parent / "llem_echo_engine"


@pytest.fixture(scope="session")
def echo_site(tmp_path_factory) -> Path:
    site, source = tmp_path_factory.mktemp("echo-site"), tmp_path_factory.mktemp("echo-source") / PACKAGE.name
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))  # builds there
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert list(site.glob("llem_echo_engine-*.dist-info/entry_points.txt")), sorted(p.name for p in site.iterdir())
    return site


@pytest.fixture
def echo_env(echo_site):
    """The environment of a llem process that has the echo engine installed."""
    path = os.pathsep.join(p for p in (str(echo_site), os.environ.get("PYTHONPATH", "")) if p)
    env = llem_env(PYTHONPATH=path)
    env.pop("ECHO_NO_USAGE_STATS", None)  # what the engine reports as off, llem must have set
    return env


ARGS = [
    "backend=echo",
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=4",
    "workload.batch_size=2",
    "workload.input_tokens=32",
    "workload.output_tokens=8",
    "run.repeats=2",
    "backend.batching=continuous",
    "backend.token_delay_s=0.001",
]


def _python(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_the_registry_discovers_the_installed_engine_without_importing_its_engine_code(echo_env):
    code = (
        "import json, sys; from llem.registry import engine, engines; e = engine('echo'); "
        "print(json.dumps({'names': sorted(engines()), 'server': e.server, 'devices': list(e.devices), "
        "'loaded': sorted(m for m in sys.modules if m.startswith('llem_echo_engine'))}))"
    )
    seen = json.loads(_python(code, echo_env))
    assert {"echo", "pytorch", "llamacpp", "vllm", "sglang", "tensorrt"} <= set(seen["names"])
    assert seen["server"] == "llem_echo_engine.server:server_plan" and seen["devices"] == ["cpu"]
    assert seen["loaded"] == ["llem_echo_engine"]  # its __init__ only: no backend, config or server module


def test_without_the_package_backend_echo_is_one_sentence_naming_the_choices(workdir):
    out = run_llem(ARGS, workdir)
    assert out.returncode == 2 and "Traceback" not in out.stdout, out.stdout[-3000:]
    assert "backend=echo" in out.stdout and "pytorch" in out.stdout


def test_a_sweep_measures_it_offline_and_through_its_server(workdir, echo_env):
    out = run_llem(["--multirun", *ARGS, "workload.mode=offline,server"], workdir, env=echo_env)
    assert out.returncode == 0, out.stdout[-5000:]
    results = {r["spec"]["workload"]["mode"]: r for r in results_under(workdir / "outputs")}
    assert set(results) == {"offline", "server"}, out.stdout[-3000:]
    for mode, r in results.items():
        assert r["status"] == "ok", (mode, r.get("failure"))
        assert r["identity"]["backend"] == "echo" and r["identity"]["engine_version"] == "0.1.0", mode
        assert len(r["windows"]) == 2, mode
    offline = results["offline"]
    assert offline["identity"]["engine"] == "echo" and offline["engine"]["effective_settings"]["rounds"] == 200
    assert offline["engine"]["effective_settings"]["usage_stats"] == "off"  # its Engine.telemetry_off, set before import
    for w in offline["windows"]:
        assert w["requests"] == 4 and w["output_tokens"] == 4 * 8, w  # fixed length, counted from the engine's ids
    assert offline["metrics"]["output_tokens_per_s"] > 0
    server = results["server"]
    assert server["identity"]["engine"] == "echo server" and server["server"]["attached"] is False
    tokens = server["server"]["tokens"]  # two runs of four requests, streamed over real HTTP
    assert tokens["client_output_tokens"] == tokens["server_output_tokens"] == 2 * 4 * 8, tokens
    for w in server["windows"]:  # the engine's own metrics series (Engine.phase_series), scraped around each run
        phases = w["engine_phases"]
        assert phases["prefill_share"] is not None and 0 < phases["prefill_share"] < 1, phases
        assert "echo:request_prefill_seconds_sum" in phases["source"] and phases["requests"] == 4
    run_dir = workdir / "outputs" / "runs" / server["identity"]["run_id"]
    log = (run_dir / "server.log").read_text()
    assert "usage stats: off" in log  # the engine's telemetry switch (Engine.telemetry_off) reached its server
    assert log.count("POST /v1/completions") == 2 * 4 + 4  # two measured runs and the warm-up, four requests each
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["packages"]["llem-echo-engine"] == "0.1.0"  # its Engine.dists, recorded with the run
