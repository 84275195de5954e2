"""Stopping a run with a real signal to llem's process group (what a terminal's Ctrl-C, scancel and
docker stop do): during warm-up, during a measured window, between jobs; SIGINT and SIGTERM. Each
checks the exit code, the records on disk, that no process of the run is left, and that running the
same command again measures only what is missing (llem/host/interrupt.py)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import process_gone
from faults_helpers import complete_result, no_traceback, run_dirs
from interrupt_helpers import Llem, assert_nothing_left, interrupted_record, set_summary_aside, sweep_summary

pytestmark = pytest.mark.slow

# windows of whole passes lasting >= 1 s, so that a signal sent at a window's start lands inside it
TINY = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=2",
    "workload.output_tokens=16",
    "energy.baseline_s=0",
    "run.min_window_s=1",
    "run.output_root=out",
]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_window_records_the_job_and_the_rest_resumes(tmp_path, sig, code):
    args = ["--multirun", *TINY, "workload.batch_size=1,2", "run.repeats=3", "run.warmup=0"]
    run = Llem(args, tmp_path)
    run.wait_for(lambda: run.printed("measuring window 2/3", times=2), "the second job reached its second window")
    sent = run.signal_group(sig)
    rc = run.finish()
    stopped_in = time.monotonic() - sent
    out = run.output
    assert rc == code, out[-3000:]
    assert no_traceback(out), out[-3000:]
    assert stopped_in < 30, f"llem took {stopped_in:.1f} s to stop"
    name = signal.Signals(sig).name
    assert (
        "llem sweep summary: 1 measured, 0 skipped (complete result already on disk), 0 failed, 1 interrupted, 0 not started"
    ) in out, out[-3000:]
    jobs = sweep_summary(tmp_path / "out")
    assert [j["status"] for j in jobs] == ["measured", "interrupted"]
    first, stopped = Path(jobs[0]["run_dir"]), Path(jobs[1]["run_dir"])
    complete_result(first)
    record = interrupted_record(stopped)
    # The signal lands in window 2 (or, on a loaded machine, just after it ended, before window 3 began).
    kept = record["windows_measured"]  # the windows measured before the signal, kept for inspection
    # the signal follows the second window's start; on a fast box the third may have begun by then
    stage = record["interrupted"].pop("stage")
    assert stage.startswith(("measuring window 2/3", "measuring window 3/3")), stage
    assert record["interrupted"] == {"signal": name, "windows_measured": len(kept), "windows_requested": 3}
    assert len(kept) in (1, 2) and [w["index"] for w in kept] == list(range(len(kept)))
    assert all(w["output_tokens"] == 2 * 16 * w["passes"] for w in kept)
    assert_nothing_left(run, tmp_path / "out")

    before = (first / "result.json").read_bytes()
    set_summary_aside(tmp_path / "out")
    again = Llem(args, tmp_path)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    assert "llem sweep summary: 1 measured, 1 skipped (complete result already on disk), 0 failed" in again.output
    assert [j["status"] for j in sweep_summary(tmp_path / "out")] == ["skipped", "measured"]
    assert (first / "result.json").read_bytes() == before
    assert len(complete_result(stopped)["windows"]) == 3 and not (stopped / "interrupted.json").exists()


def test_sigterm_during_warmup_of_a_single_run(tmp_path):
    args = [*TINY, "workload.batch_size=1", "workload.output_tokens=48", "run.repeats=1", "run.warmup=3"]
    run = Llem(args, tmp_path)
    run.wait_for(lambda: run.printed("warmup 2/3"), "the second warm-up pass began")
    run.signal_group(signal.SIGTERM)
    rc = run.finish()
    assert rc == 143 and no_traceback(run.output), run.output[-3000:]
    (run_dir,) = run_dirs(tmp_path / "out").values()
    record = interrupted_record(run_dir)
    assert record["interrupted"]["stage"] == "warmup 2/3" and record["windows_measured"] == []
    assert "stopped by SIGTERM during: warmup 2/3 (0 of 1 window(s) measured" in run.output
    assert_nothing_left(run, tmp_path / "out")

    again = Llem(args, tmp_path)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    complete_result(run_dir)
    assert not (run_dir / "interrupted.json").exists()


def test_sigint_between_jobs_leaves_the_next_ones_not_started(tmp_path):
    # Two engine configurations: after the first job, the second needs a new worker (seconds).
    args = [
        "--multirun",
        *TINY,
        "workload.batch_size=1",
        "backend.attn_implementation=sdpa,eager,sdpa",
        "workload.output_tokens=8",
        "run.repeats=1",
        "run.warmup=0",
        "run.reuse_engine=false",
    ]
    run = Llem(args, tmp_path)
    root = tmp_path / "out"
    run.wait_for(lambda: any((d / "result.json").is_file() for d in run_dirs(root).values()), "the first job finished")
    run.signal_group(signal.SIGINT)
    rc = run.finish()
    out = run.output
    assert rc == 130 and no_traceback(out), out[-3000:]
    jobs = sweep_summary(root)
    statuses = [j["status"] for j in jobs]
    # The third job never began; the second had at most started its worker (no window measured).
    assert statuses[0] == "measured" and statuses[2] == "not_started", statuses
    assert statuses[1] in ("interrupted", "not_started"), statuses
    if statuses[1] == "interrupted":
        assert interrupted_record(Path(jobs[1]["run_dir"]))["windows_measured"] == []
    assert f"{statuses.count('interrupted')} interrupted, {statuses.count('not_started')} not started" in out
    assert_nothing_left(run, root)

    set_summary_aside(root)
    again = Llem(args, tmp_path)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    # jobs 0 and 2 share a config: the first measured it; the second job (eager) is measured now
    assert [j["status"] for j in sweep_summary(root)] == ["skipped", "measured", "skipped"]


def test_second_ctrl_c_exits_at_once(tmp_path):
    run = Llem([*TINY, "workload.batch_size=1", "run.repeats=5", "run.warmup=0"], tmp_path)
    run.wait_for(lambda: run.printed("measuring window 2/5"), "the second window began")
    run.signal_group(signal.SIGINT)
    run.wait_for(lambda: run.printed("SIGINT received: stopping"), "the first Ctrl-C was taken", timeout=10)
    os.kill(run.proc.pid, signal.SIGINT)  # the second, while it cleans up (if it has not finished already)
    rc = run.finish(timeout=30)
    assert rc == 130 and no_traceback(run.output), run.output[-3000:]
    assert_nothing_left(run, tmp_path / "out")
    (run_dir,) = run_dirs(tmp_path / "out").values()
    assert not (run_dir / "result.json").exists()  # whatever it had, never a complete result
    if "SIGINT again: exiting at once" not in run.output:  # the first stop won the race: it is whole
        interrupted_record(run_dir)


def test_sigint_in_server_mode_stops_the_server_and_resumes(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("starlette_context")
    args = [
        "backend=llamacpp",
        "model=tiny",
        "workload=server",
        "hardware=cpu",
        "tracking=none",
        "energy=none",
        "backend.n_threads=1",
        "workload.num_prompts=24",
        "workload.output_tokens=24",
        "workload.concurrency=2",
        "run.repeats=2",
        "run.warmup=0",
        "run.output_root=out",
    ]
    run = Llem(args, tmp_path)
    root = tmp_path / "out"

    def under_load() -> bool:
        logs = list(root.glob("runs/*/server.log"))
        return bool(logs) and "POST /v1/completions" in logs[0].read_text(errors="replace")

    run.wait_for(under_load, "the server was under load")
    (run_dir,) = run_dirs(root).values()
    server_pid = json.loads((run_dir / "server.json").read_text())["pid"]
    run.signal_group(signal.SIGINT)
    rc = run.finish()
    assert rc == 130 and no_traceback(run.output), run.output[-3000:]
    record = interrupted_record(run_dir)
    assert record["interrupted"]["stage"].startswith("measuring run 1/2") and record["windows_measured"] == []
    assert process_gone(server_pid), "the server outlived the run"
    assert "Finished server process" in (run_dir / "server.log").read_text(errors="replace")  # stopped, not killed
    assert_nothing_left(run, root)

    again = Llem(args, tmp_path)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    assert len(complete_result(run_dir)["windows"]) == 2 and not (run_dir / "interrupted.json").exists()


def test_mlflow_child_ends_killed_and_the_parent_says_how_far_the_sweep_got(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    args = [
        "--multirun",
        *[a for a in TINY if a != "tracking=none"],
        "tracking=mlflow",
        "tracking.experiment=stop",
        "workload.batch_size=1,2,4",
        "run.repeats=3",
        "run.warmup=0",
    ]
    run = Llem(args, tmp_path)
    run.wait_for(lambda: run.printed("measuring window 2/3", times=2), "the second job reached its second window")
    run.signal_group(signal.SIGTERM)
    assert run.finish() == 143 and no_traceback(run.output), run.output[-3000:]
    assert "1 measured, 0 skipped (complete result already on disk), 0 failed, 1 interrupted, 1 not started" in run.output

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("stop")
    runs = {
        r.data.tags["llem.role"] + ":" + r.data.tags.get("llem.status", ""): r for r in client.search_runs([exp.experiment_id])
    }
    assert sorted(runs) == ["job:interrupted", "job:ok", "sweep:"], sorted(runs)
    child, parent = runs["job:interrupted"], runs["sweep:"]
    assert child.info.status == "KILLED" and child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "stopped by SIGTERM during: measuring window 2/3" in child.data.tags["llem.error_message"]
    assert runs["job:ok"].info.status == "FINISHED"
    assert parent.info.status == "KILLED"
    assert parent.data.tags["llem.sweep_progress"].startswith("stopped by SIGTERM after 1 of 3 job(s): 1 measured")
    assert parent.data.metrics["jobs_interrupted"] == 1 and parent.data.metrics["jobs_not_started"] == 1
    assert_nothing_left(run, tmp_path / "out")


@pytest.mark.parametrize(
    "to, sig, code",
    [("group", signal.SIGINT, 130), ("llem", signal.SIGTERM, 143)],
    ids=["SIGINT-to-group", "SIGTERM-to-llem-only"],
)
def test_submitit_local_job_stops_recorded_and_resumes(tmp_path, to, sig, code):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    args = ["--multirun", "hydra/launcher=local", *TINY, "workload.batch_size=1,2", "run.repeats=3", "run.warmup=0"]
    run = Llem(args, tmp_path)
    root = tmp_path / "out"

    def second_window() -> bool:  # the job's output is in its submitit log
        return any(
            "measuring window 2/3" in p.read_text(errors="replace") for p in root.glob("hydra/sweeps/*/.submitit/*/*_log.*")
        )

    run.wait_for(second_window, "the first job reached its second window")
    if to == "group":
        run.signal_group(sig)
    else:  # as `kill PID` would: llem passes it on to its submitit job
        os.kill(run.proc.pid, sig)
    rc = run.finish()
    out = run.output
    assert rc == code and no_traceback(out), out[-3000:]
    logs = "".join(p.read_text(errors="replace") for p in root.glob("hydra/sweeps/*/.submitit/*/*_log.*"))
    assert no_traceback(logs), logs[-3000:]
    assert "0 measured, 0 skipped (complete result already on disk), 0 failed, 1 interrupted, 1 not started" in out
    jobs = sweep_summary(root)
    assert [j["status"] for j in jobs] == ["interrupted", "not_started"]
    record = interrupted_record(Path(jobs[0]["run_dir"]))
    assert record["interrupted"]["stage"].startswith("measuring window 2/3") and len(record["windows_measured"]) == 1
    assert_nothing_left(run, root)

    set_summary_aside(root)
    again = Llem(args, tmp_path)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    assert [j["status"] for j in sweep_summary(root)] == ["measured", "measured"]


def test_kill_9_of_llem_stops_its_worker_and_keeps_its_windows(tmp_path):
    """SIGKILL to llem's own pid only (no handler can run there): its worker must not go on measuring
    as an orphan (issue 28: it did, for minutes, skewing the next run); it stops, releases the engine
    and keeps the windows it had as interrupted.json, and the next run measures the job."""
    args = [*TINY, "workload.batch_size=1", "run.repeats=30", "run.warmup=0"]
    run = Llem(args, tmp_path)
    run.wait_for(lambda: run.printed("measuring window 3/30"), "the job reached its third window")
    os.kill(run.proc.pid, signal.SIGKILL)
    run.finish()
    assert_nothing_left(run, tmp_path / "out")  # within 10 s: the worker died with llem
    (run_dir,) = run_dirs(tmp_path / "out").values()
    record = interrupted_record(run_dir)
    assert record["interrupted"]["signal"] == "SIGTERM" and "llem's own process had died" in record["error"]["message"]
    assert len(record["windows_measured"]) >= 2 and not (run_dir / "result.json").exists()
