"""`python -m llem ... workload=server` end to end against llama.cpp's real server on loopback."""

from __future__ import annotations

import copy
import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
from conftest import llem_env, process_gone, results_under, run_llem
from replay_traces import POWER_W, STEP_J, constant_power_trace

from llem.results.comparison import certify

LLAMACPP_SERVER = [
    pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
    pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
]
pytestmark = [pytest.mark.slow, *LLAMACPP_SERVER]

BASE = [
    "backend=llamacpp",
    "model=smollm2-135m",
    "workload=server",
    "hardware=cpu",
    "tracking=none",
    "backend.n_threads=1",
]  # one thread: llama.cpp's spinning workers crawl on shared cores


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # exited, waited-for descendants
    return r.ru_utime + r.ru_stime


def test_server_run_reports_latency_percentiles_throughput_and_both_energy_windows(tmp_path):
    trace = tmp_path / "constant_300w.csv"
    constant_power_trace(trace)  # a replayed GPU at 300 W: the windows' joules are known
    cpu0, wall0 = _children_cpu_s(), time.monotonic()
    out = run_llem(
        BASE
        + [
            "workload.concurrency=4",
            "workload.num_prompts=10",
            "workload.output_tokens=8",
            "run.repeats=1",
            "run.warmup=1",
            "energy.baseline_s=0.5",
            "energy.sample_interval_s=0.05",
            "run.min_window_s=2",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=400,
        env=llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=tmp_path / "no-powercap", COLUMNS=200),
    )
    tree_cpu_s, wall_s = _children_cpu_s() - cpu0, time.monotonic() - wall0  # llem and all it started
    assert out.returncode == 0, out.stdout
    for row in ("TTFT", "inter-token latency", "TPOT", "throughput", "closed loop, 4 in flight"):
        assert row in out.stdout
    [result] = results_under(tmp_path)
    m, server = result["metrics"], result["server"]
    for name in ("ttft", "itl", "tpot", "e2e_latency"):
        p50, p90, p99 = (m[f"{name}_p{q}_s"] for q in (50, 90, 99))
        assert 0 < p50 <= p90 <= p99, name
    assert m["output_tokens_per_s"] > 0 and m["requests_per_s"] > 0
    [w] = result["windows"]
    k = w["passes"]  # the prompts sent k times over in one load, so that the steady state lasts >= 2 s
    assert k >= 1 and "calibration pass (not measured)" in out.stdout
    assert server["tokens"]["client_output_tokens"] == k * 10 * 8 and server["load"]["concurrency"] == 4
    assert result["engine"]["effective_settings"]["server_argv"][1:3] == ["-m", "llama_cpp.server"]

    whole = w["whole_run"]
    assert w["window"] == "steady_state" and w["steady_state"]["reached"] and w["max_in_flight"] == 4
    assert whole["output_tokens"] == k * 80 and whole["requests"] == k * 10
    if k > 1:  # one pass was too short: the passes were chosen from the calibration pass to fill the target
        assert w["duration_s"] >= 1.0, w["duration_s"]
    assert 0 < w["output_tokens"] < whole["output_tokens"] and w["duration_s"] < whole["duration_s"]
    client = w["load_generator"]  # the client's own CPU: one thread cannot use more than the run's wall time
    assert 0 < client["cpu_s"] <= whole["duration_s"] and client["cpu_s"] <= tree_cpu_s  # the OS's count, independent
    # busy_share is CPU over the run's duration, which is shorter than the whole invocation the test timed
    assert client["cpu_s"] / wall_s <= client["busy_share"] <= 1.0
    for win in (w, whole):  # the replayed counter moves by 300 W x the meter's window to under one 30 J step
        assert abs(win["energy_j"] - POWER_W * win["energy"]["duration_s"]) < STEP_J + 1e-6
    # the steady state's edges are bracketed by the counter's updates (found by threads, the event loop
    # never waits): at a constant 300 W its joules are the truth within the updates' timing, far
    # inside the one 30 J step per edge that edges read at once may be off by
    [al] = w["energy"]["alignment"].values()
    assert al["method"] == "bracketed" and al["begin_update_s"] >= al["open_s"] and al["end_update_s"] >= al["close_s"]
    assert abs(w["energy_j"] - POWER_W * w["energy"]["duration_s"]) < 0.1 * STEP_J, w["energy"]
    assert al["mean_power_w"] == pytest.approx(POWER_W, rel=0.01)
    # llama-cpp-python's server has no reset endpoint: what it keeps is recorded, not flagged
    assert w["prefix_cache"]["reset"] is None and "longest common prefix" in w["prefix_cache"]["reason"]
    assert not [f for f in result["validity"]["flags"] if f.startswith("prefix_cache")]
    # the later passes' prompts are the shipped set's next ones (48 of them), not the first pass's again
    assert not [f for f in result["validity"]["flags"] if f.startswith("prompts_repeat")] or k * 10 > 48
    for win in (w, whole):
        assert win["energy_j_per_output_token"] == pytest.approx(win["energy_j"] / win["output_tokens"])
    assert m["energy_j_per_output_token"] == pytest.approx(w["energy_j_per_output_token"])
    assert result["energy"]["baseline"]["power_w"] == pytest.approx(POWER_W, rel=0.1)
    gpu0 = result["energy"]["per_device"]["gpu0"]  # the replayed GPU: the server's CUDA cannot be asked for its UUID
    assert gpu0["energy_j"]["mean"] == pytest.approx(w["energy"]["energy_j"]["gpu0"])
    [nvml] = [p for p in result["energy"]["meter"]["parts"] if p["meter"] == "nvml"]
    assert nvml["devices"]["gpu0"]["cuda_check"] == "not checked: the engine does not report CUDA's device UUIDs"
    # the comparison certificate on a server record (llem/results/comparison.py): the client's load compared,
    # lengths from the windows' totals; what a server run does not record is unknown with the reason
    busier = copy.deepcopy(result)
    busier["spec"]["workload"]["concurrency"] = 8
    checks = {c["check"]: c for c in certify(result, busier)["checks"]}
    assert checks["occupancy"]["a"] == "concurrency 4, closed loop, at most 4 in flight"
    assert checks["occupancy"]["configured"] == ["workload.concurrency 4 vs 8"]
    assert checks["output_lengths"]["verdict"] == "same" and checks["energy_scope"]["a"] == "gpu (measured)"
    assert checks["output_identity"]["verdict"] == "unknown" and "server" in checks["output_identity"]["reason"]
    assert checks["kv_cache_budget"]["verdict"] == "unknown" and "server's KV-cache budget" in checks["kv_cache_budget"]["reason"]

    run_dir = next(tmp_path.rglob("result.json")).parent
    pid = json.loads((run_dir / "server.json").read_text())["pid"]
    assert process_gone(pid), "the server outlived the run"
    assert "Finished server process" in (run_dir / "server.log").read_text()


def test_server_killed_mid_run_fails_that_job_and_the_sweep_goes_on(tmp_path):
    args = (
        ["--multirun"]
        + BASE
        + [
            "workload.num_prompts=40,4",
            "workload.concurrency=2",
            "workload.output_tokens=24",
            "run.repeats=1",
            "run.warmup=0",
            "energy=none",
            f"run.output_root={tmp_path}",
        ]
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "llem", *args],
        cwd=tmp_path,
        env=llem_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:  # the first job's server, once it streams
            assert proc.poll() is None and time.monotonic() < deadline, "the first job never got under load"
            logs = list(tmp_path.glob("runs/*server_c2*/server.log"))
            if logs and "POST /v1/completions" in logs[0].read_text():
                break
            time.sleep(0.2)
        pid = json.loads((logs[0].parent / "server.json").read_text())["pid"]
        os.killpg(pid, signal.SIGKILL)
        stdout, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    failure = json.loads((logs[0].parent / "failure.json").read_text())
    message = failure["error"]["message"]
    assert f"during the run 0, the llama.cpp server (llama-cpp-python) (pid {pid}) was killed by signal 9" in message
    assert "llama.cpp server" in stdout and "killed by signal 9" in stdout
    [result] = results_under(tmp_path)  # the second point still ran
    assert result["spec"]["workload"]["num_prompts"] == 4 and result["status"] == "ok"
    for server_json in tmp_path.glob("runs/*/server.json"):
        assert process_gone(json.loads(server_json.read_text())["pid"])


def test_passes_fill_the_window_target_from_the_calibration_pass():
    """Each pass after the first adds a whole pass of steady load; the first adds its own steady part."""
    from llem.harness.server import passes_for

    assert passes_for(5.0, pass_s=1.0, steady_s=0.6) == 6  # 0.6 + 5 x 1.0 >= 5
    assert passes_for(5.0, pass_s=1.0, steady_s=None) == 6  # no steady state seen: count whole passes
    assert passes_for(5.0, pass_s=8.0, steady_s=6.0) == 1  # one pass is already long enough
    assert passes_for(5.0, pass_s=8.0, steady_s=2.0) == 2
    assert passes_for(5.0, pass_s=0.001, steady_s=0.0, cap=50) == 50
