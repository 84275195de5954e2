"""A concurrency sweep in server mode starts llama.cpp's real server once (run.reuse_engine): every
point is measured against the same server process, each with its own warmup, baseline and windows,
and the server is gone when the sweep ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import process_gone, results_under, run_llem

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
    "energy=none",
    "backend.n_threads=1",
    "workload.num_prompts=6",
    "workload.output_tokens=8",
    "run.repeats=1",
    "-q",
]


def test_concurrency_sweep_measures_every_point_on_one_server(tmp_path):
    proc = run_llem(["--multirun", *BASE, "workload.concurrency=1,2,4", f"run.output_root={tmp_path}"], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    done = sorted(results_under(tmp_path), key=lambda r: r["identity"]["started_unix_s"])
    assert [r["server"]["load"]["concurrency"] for r in done] == [1, 2, 4]
    first = done[0]
    runs = [Path(tmp_path) / "runs" / r["identity"]["run_id"] for r in done]
    servers = [json.loads((d / "server.json").read_text()) for d in runs]
    assert len({s["pid"] for s in servers}) == 1 and len({s["url"] for s in servers}) == 1  # one server process
    assert first["engine_load"]["reused"] is False and first["load_s"] > 0
    for r, s in zip(done[1:], servers[1:]):
        assert r["engine_load"] == dict(first["engine_load"], reused=True, job_on_engine=r["engine_load"]["job_on_engine"])
        assert r["load_s"] is None and s["reused"] is True and s["started_for"] == first["identity"]["run_id"]
        assert Path(s["log"]) == runs[0] / "server.log"  # the server's log stays where it was started
        assert r["metrics"]["ttft_p50_s"] > 0 and r["server"]["tokens"]["client_output_tokens"] == 6 * 8
        assert r["windows"][0]["max_in_flight"] == r["server"]["load"]["concurrency"]
    assert process_gone(servers[0]["pid"])  # stopped at the end of the sweep
