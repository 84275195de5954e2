"""Attach mode and open-loop arrivals end to end, against a llama.cpp server this test starts itself
with llama-cpp-python's own command line (nothing of llem's server plumbing), serving the shipped
SmolLM2-135M GGUF (model=tiny's random weights stream chunks that are not one token each; see
test_server_tiny_tokens.py).

- workload.server_url: llem measures a server it did not start, and leaves it running;
  the server's own access log counts the requests llem sent.
- Poisson and burst arrivals (workload.request_rate, workload.arrival) through the same server.
One server for the module; stopped by its PID (it leads its own session)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import llem_env, process_gone, results_under, run_llem
from stopping import stop_group

LLAMACPP_SERVER = [
    pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
    pytest.mark.needs("starlette_context", "llama.cpp's server (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh"),
]
pytestmark = [pytest.mark.slow, *LLAMACPP_SERVER]
OUT = 8


class OwnServer:
    def __init__(self, gguf: Path, log: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url, self.log = f"http://127.0.0.1:{self.port}", log
        with open(log, "w") as f:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(gguf),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--n_ctx",
                    "512",
                    "--n_threads",
                    "1",
                    "--model_alias",
                    "smollm2-own",
                    # its default (true) aborts a stream whenever another request waits: no server to measure
                    "--interrupt_requests",
                    "False",
                ],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=llem_env(),
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"llama.cpp server did not answer within {timeout_s} s: {self.log.read_text()[-2000:]}")

    def completions(self) -> int:
        """POSTs to /v1/completions in the server's own access log so far."""
        return self.log.read_text().count("POST /v1/completions")

    def stop(self) -> None:
        stop_group(self.proc)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    from llem.backends.llamacpp.gguf import resolve_gguf
    from llem.config.spec import ModelSpec

    gguf, _ = resolve_gguf(ModelSpec(name="smollm2-135m", source="builtin", id="smollm2-135m", gguf="builtin"))
    server = OwnServer(gguf, tmp_path_factory.mktemp("own-llamacpp") / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def attach(own_server, tmp_path, *extra: str):
    before = own_server.completions()
    out = run_llem(
        [
            "backend=llamacpp",
            "model=smollm2-135m",
            "workload=server",
            "hardware=cpu",
            "tracking=none",
            "energy=none",
            f"workload.server_url={own_server.url}",
            f"workload.output_tokens={OUT}",
            "run.warmup=1",
            f"run.output_root={tmp_path}",
            *extra,
        ],
        tmp_path,
        timeout=400,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    [result] = results_under(tmp_path)
    return result, out.stdout, own_server.completions() - before


def test_attach_measures_a_server_llem_did_not_start_and_leaves_it_running(own_server, tmp_path):
    result, stdout, posts = attach(own_server, tmp_path, "workload.concurrency=2", "workload.num_prompts=6", "run.repeats=2")
    server = result["server"]
    assert server["attached"] is True and server["url"] == own_server.url and server["model"] == "smollm2-own"
    assert result["engine"]["effective_settings"]["server_argv"] is None  # llem started nothing
    assert f"attaching to the server at {own_server.url}" in stdout
    # the server's own log: warmup (one request per slot) + 2 runs x 6 requests, and not one more
    assert posts == 2 + 2 * 6
    assert server["tokens"]["client_output_tokens"] == 2 * 6 * OUT
    assert own_server.proc.poll() is None and not process_gone(own_server.proc.pid)  # still serving
    assert not (next(tmp_path.rglob("result.json")).parent / "server.json").exists()


def test_poisson_arrivals_end_to_end(own_server, tmp_path):
    from llem.workload.loadgen import arrival_offsets

    result, stdout, posts = attach(
        own_server,
        tmp_path,
        "workload.concurrency=8",
        "workload.num_prompts=8",
        "workload.request_rate=4",
        "workload.arrival=poisson",
        "workload.seed=3",
        "run.repeats=1",
    )
    load = result["server"]["load"]
    assert load == {**load, "request_rate": 4.0, "arrival": "poisson", "concurrency": 8}
    assert posts == 8 + 8  # warmup at the concurrency, then the 8 open-loop requests
    [w] = result["windows"]
    # the run cannot end before its last arrival (seeded: the same schedule on every machine)
    assert w["whole_run"]["duration_s"] >= arrival_offsets(8, 4.0, "poisson", seed=3)[-1]
    assert w["whole_run"]["requests"] == 8 and w["failed_requests"] == 0
    assert "4 req/s poisson" in stdout


def test_burst_arrivals_go_out_together(own_server):
    from llem.workload.client import run_load
    from llem.workload.loadgen import LoadSettings, RequestInput

    inputs = [RequestInput(f"r{i}", "Once upon a time", OUT) for i in range(8)]
    run = run_load(
        own_server.url,
        "smollm2-own",
        inputs,
        LoadSettings(concurrency=8, request_rate=4.0, arrival="burst", burst_size=4, extra_body={"temperature": 0.0}),
    )
    assert [o.error for o in run.outputs] == [None] * 8
    # bursts of 4 at 0 s and 1 s (4 requests per burst at 4 req/s on average)
    assert [o.scheduled_s for o in run.outputs] == [0.0] * 4 + [1.0] * 4
    for burst in (run.outputs[:4], run.outputs[4:]):
        assert all(o.sent_s >= o.scheduled_s - 1e-3 for o in burst)
        # all four went out before the first of them was answered: together, not one after another
        assert max(o.sent_s for o in burst) < min(o.done_s for o in burst)
    assert run.max_in_flight >= 4 and run.duration_s >= 1.0
