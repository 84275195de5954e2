"""The load generator sharded over client processes (llem/workload/shards.py) against the paced SSE server of
benchmarks/loadgen_capacity.py on loopback (its own process, a known schedule: first token `gap` after the
request, then one every `gap`): every request exactly once, one clock for all shards, steady-state edges over
the merged in-flight count, the client's CPU per shard; and the rule that picks the number of processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from llem.serving import metrics as sm
from llem.workload.loadgen import LoadSettings, RequestInput
from llem.workload.client import run_load

from llem.workload.records import RequestOutput
from llem.workload.shards import client_processes, shard_concurrency, shard_of

GAP_MS = 10
TOKENS = 12
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "loadgen_capacity.py"


@pytest.fixture(scope="module")
def paced_url():
    proc = subprocess.Popen([sys.executable, str(BENCH), "--serve", "--gap-ms", str(GAP_MS)], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().split()[0]}"  # its shared port, then its /stats port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _inputs(n: int) -> list[RequestInput]:
    return [RequestInput(f"r{i:03d}", "x", TOKENS, prompt_tokens=1) for i in range(n)]


def test_two_shards_send_every_request_once_on_one_clock(paced_url):
    events = []
    run = run_load(
        paced_url,
        "m",
        _inputs(24),
        LoadSettings(concurrency=6, processes=2),
        on_steady_open=lambda: events.append("open"),
        on_steady_close=lambda: events.append("close"),
        on_start=lambda: events.append("start"),
    )
    assert events == ["start", "open", "close"]
    assert [o.id for o in run.outputs] == [f"r{i:03d}" for i in range(24)]  # each once, in request order
    assert all(o.ok and o.client_tokens == TOKENS for o in run.outputs)
    assert [o.shard for o in run.outputs] == [shard_of(j, 6, 2) for j in range(24)]
    assert {o.shard for o in run.outputs} == {0, 1}
    # one clock: the first 6 requests (3 per shard, closed loop) all went out at the common start
    assert max(o.sent_s for o in run.outputs[:6]) < 0.15
    # and each shard's TTFT is the server's first gap plus what loopback and the client add, never less
    assert all(GAP_MS / 1e3 * 0.9 <= o.ttft_s < 0.5 for o in run.outputs)
    # merged in flight: the window opens at 6 and closes after the last send
    assert run.max_in_flight == 6
    last_sent = max(o.sent_s for o in run.outputs)
    assert run.steady_open_s < last_sent <= run.steady_close_s <= run.duration_s + 0.2
    shards = run.shards
    assert [s["requests"] for s in shards] == [12, 12] and [s["concurrency"] for s in shards] == [3, 3]
    assert all(0 < s["cpu_s"] <= s["duration_s"] and s["max_in_flight"] == 3 for s in shards)
    assert run.client_cpu_s == pytest.approx(sum(s["cpu_s"] for s in shards))
    info, _flags = sm.load_generator(run, "run 0")
    assert info["processes"] == 2 and info["busy_share"] == max(s["busy_share"] for s in shards)


def test_the_whole_run_window_is_open_before_the_first_send(paced_url):
    """on_start opens the whole-run window; an aligned meter's open waits for the counter's next update (up to
    ~150 ms): it must have returned before any shard sends, or the window misses the start of the load."""
    import time

    at: dict = {}

    def start():  # as NvmlMeter.begin(align=True) does: wait for the next 100 ms counter update
        time.sleep(0.15)
        at["opened"] = time.monotonic()

    run = run_load(
        paced_url,
        "m",
        _inputs(12),
        LoadSettings(concurrency=4, processes=2),
        on_steady_open=lambda: at.setdefault("steady", time.monotonic()),
        on_start=start,
    )
    t0 = at["steady"] - run.steady_open_s  # the run's clock origin, from the open edge both clocks saw
    first_send = t0 + min(o.sent_s for o in run.outputs)
    assert at["opened"] <= first_send, at["opened"] - first_send


def test_merged_percentiles_are_those_of_the_union_of_the_shards_records(paced_url):
    run = run_load(paced_url, "m", _inputs(15), LoadSettings(concurrency=5, processes=2))
    by_shard = [[o for o in run.outputs if o.shard == i] for i in (1, 0)]  # another order, through plain dicts
    union = [RequestOutput.from_dict(o.to_dict()) for part in by_shard for o in part]
    assert sorted(o.id for o in union) == sorted(o.id for o in run.outputs) and len(union) == 15
    merged, separate = sm.latency(run.outputs), sm.latency(union)
    for key in ("ttft_p50_s", "ttft_p99_s", "itl_p50_s", "itl_p99_s", "icl_p90_s", "tpot_p50_s", "e2e_latency_p99_s"):
        assert merged[key] == pytest.approx(separate[key])
    assert sm.whole_counts(run)["output_tokens"] == 15 * TOKENS and sm.whole_counts(run)["input_tokens"] == 15
    # concurrency 5 over 2 shards: slots 3 + 2, requests in proportion
    assert [s["concurrency"] for s in run.shards] == [3, 2] and [s["requests"] for s in run.shards] == [9, 6]


def test_an_open_loop_keeps_its_global_schedule_across_shards(paced_url):
    run = run_load(paced_url, "m", _inputs(12), LoadSettings(concurrency=4, request_rate=40.0, arrival="constant", processes=2))
    assert [o.scheduled_s for o in run.outputs] == pytest.approx([i / 40.0 for i in range(12)])
    assert all(o.sent_s >= o.scheduled_s - 1e-3 for o in run.outputs)
    assert all(o.sent_s - o.scheduled_s < 0.1 for o in run.outputs)  # not held back: 40 req/s x 0.13 s < 4 slots


def test_the_rule_picks_processes_from_the_load():
    w = SimpleNamespace(client_processes=None, concurrency=4, request_rate=None, output_tokens=64)
    assert client_processes(w, cores=16) == 1  # 4 streams x 200 tokens/s: far below one process's 20k
    w.concurrency = 256  # 51.2k tokens/s at most: 3 processes
    assert client_processes(w, cores=16) == 3
    assert client_processes(w, cores=2) == 1  # half the cores: the server on this host needs its own
    w.request_rate = 50.0  # at most 50 req/s x 64 tokens = 3.2k tokens/s
    assert client_processes(w, cores=16) == 1
    w.client_processes = 5
    assert client_processes(w, cores=2) == 5  # set: taken as given
    assert shard_concurrency(7, 3) == [3, 2, 2] and [shard_of(j, 7, 3) for j in range(8)] == [0, 1, 2, 0, 1, 2, 0, 0]


def test_more_client_processes_than_concurrency_is_refused_before_anything_runs():
    from specs import compose_spec

    from llem.errors import UserError

    with pytest.raises(UserError, match=r"workload.client_processes=3 is more than workload.concurrency=2"):
        compose_spec("workload=server", "workload.concurrency=2", "workload.client_processes=3")
    from llem.config.spec import WorkloadSpec

    base = compose_spec()
    offline = base.model_copy(update={"workload": WorkloadSpec(name="w")})
    sharded = base.model_copy(update={"workload": WorkloadSpec(name="w", client_processes=3, concurrency=4)})
    assert "client_processes" not in offline.identity()["workload"]
    assert offline.identity() == sharded.identity() and offline.config_hash() == sharded.config_hash()
    # in server mode it is part of the configuration
    assert compose_spec("workload.client_processes=2").config_hash() != base.config_hash()
