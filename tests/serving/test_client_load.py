"""The load generator reports its own CPU load per run, and a run whose client was near one core's
capacity is flagged (its queueing then shows up in the TTFT and inter-token gaps it records)."""

from __future__ import annotations

from llem.serving.metrics import CLIENT_BUSY_FLAG, load_generator
from llem.workload.loadgen import LoadRun


def _run(duration_s: float, cpu_s):
    return LoadRun(
        outputs=[], duration_s=duration_s, steady_open_s=None, steady_close_s=None, max_in_flight=0, client_cpu_s=cpu_s
    )


def test_a_client_below_the_mark_is_reported_and_not_flagged():
    info, flags = load_generator(_run(4.0, 1.0), "run 0")
    assert info == {
        "processes": 1,
        "cpu_s": 1.0,
        "busy_share": 0.25,
        "flag_at": CLIENT_BUSY_FLAG,
        "cores_busy": 0.25,
        "resent_requests": 0,
    }
    assert flags == []


def test_a_sharded_client_reports_each_process_and_flags_the_busiest():
    run = _run(2.0, 1.9)
    run.shards = [
        {"index": 0, "cpu_s": 0.4, "duration_s": 2.0, "busy_share": 0.2},
        {"index": 1, "cpu_s": 1.5, "duration_s": 2.0, "busy_share": 0.75},
    ]
    run.coordinator_cpu_s = 0.01
    info, [flag] = load_generator(run, "run 1")
    assert info["processes"] == 2 and info["cpu_s"] == 1.9 and info["busy_share"] == 0.75
    assert info["cores_busy"] == 0.95 and info["shards"] == run.shards and info["coordinator_cpu_s"] == 0.01
    assert flag.startswith("run 1: llem's load generator its busiest of 2 processes kept its core 75% busy")


def test_a_client_near_one_core_is_flagged_with_its_share():
    info, [flag] = load_generator(_run(2.0, 1.9), "run 3")
    assert info["busy_share"] == 0.95
    assert flag.startswith("run 3: llem's load generator kept its core 95% busy (flagged from 70%)")
    assert "upper bounds" in flag


def test_an_unmeasured_client_load_is_null_not_zero():
    info, flags = load_generator(_run(2.0, None), "run 0")
    assert info["cpu_s"] is None and info["busy_share"] is None and flags == []


def test_a_server_that_stalls_mid_stream_times_the_request_out_with_what_arrived(tmp_path):
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from llem.workload.loadgen import LoadSettings, RequestInput

    from llem.workload.client import run_load

    release = threading.Event()

    class Stall(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            chunk = {"choices": [{"index": 0, "text": " a", "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            release.wait(10)  # then nothing more: a hung engine

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t0 = time.monotonic()
        run = run_load(
            f"http://127.0.0.1:{server.server_address[1]}",
            "m",
            [RequestInput("r0", "x", 8)],
            LoadSettings(concurrency=1, request_timeout_s=0.5),
        )
        waited = time.monotonic() - t0
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    [out] = run.outputs
    assert out.error == "timed out: no data from the server for 0.5 s" and not out.ok
    assert out.client_tokens == 1 and out.done_s is None  # what arrived before the stall is kept
    assert waited < 9  # the client gave up on its own, not when the server let go
