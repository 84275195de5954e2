"""The sweep summary's counts: read from the run dirs, corrected by the outcomes the launcher process
holds, each job counted once (sweep/summary.py). No model runs here: run dirs are written by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from llem.sweep.ledger import Outcome
from llem.config.spec import build_spec
from llem.sweep.summary import summarize_sweep

BASE = ["model=tiny", "hardware=cpu", "tracking=none", "energy=none"]


def _job(sweep: Path, name: str, root: Path, *overrides: str) -> Path:
    """Hydra's record of job `name` (<sweep>/<name>/.hydra/config.yaml); returns the job's run dir."""
    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=[*BASE, f"run.output_root={root}", *overrides])
    (sweep / name / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, sweep / name / ".hydra" / "config.yaml")
    spec = build_spec(OmegaConf.to_container(cfg, resolve=True))
    return (root / "runs" / spec.run_id()).resolve()


def _result(run_dir: Path, finished: float) -> None:
    """The smallest record the result schema takes as complete (llem.results.complete): a bare
    {"status": "ok"} is a hollow record, measured again."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "schema_version": 2,
        "status": "ok",
        "identity": {"run_id": run_dir.name, "config_hash": run_dir.name[-12:], "finished_unix_s": finished},
        "spec": {"backend": {}, "model": {}, "workload": {}, "run": {}},
        "metrics": {"energy_j_per_output_token": None, "output_tokens_per_s": 1.0},
        "windows": [{}],
        "validity": {"flags": []},
    }
    (run_dir / "result.json").write_text(json.dumps(record))


def _statuses(summary: dict) -> list[tuple]:
    return [(j["job"], j["status"]) for j in summary["jobs"]]


def test_jobs_sharing_a_run_dir_count_one_measurement(tmp_path):
    sweep, root, start = tmp_path / "sweep", tmp_path / "out", time.time()
    dirs = [_job(sweep, str(i), root, "workload.batch_size=1") for i in range(3)]
    assert len(set(dirs)) == 1  # an optimiser asked for the same point three times
    _result(dirs[0], start + 1)
    summary = summarize_sweep(sweep, start)
    assert _statuses(summary) == [("0", "measured"), ("1", "skipped"), ("2", "skipped")]
    assert summary["counts"]["measured"] == 1 and summary["counts"]["skipped"] == 2


def test_forced_jobs_sharing_a_run_dir_each_measured(tmp_path):
    sweep, root, start = tmp_path / "sweep", tmp_path / "out", time.time()
    run_dir = _job(sweep, "0", root, "run.force=true")
    _job(sweep, "1", root, "run.force=true")
    _result(run_dir, start + 1)
    assert _statuses(summarize_sweep(sweep, start)) == [("0", "measured"), ("1", "measured")]


def test_in_process_outcome_decides_and_is_not_counted_twice(tmp_path):
    sweep, root, start = tmp_path / "sweep", tmp_path / "out", time.time()
    kept = _job(sweep, "0", root, "workload.batch_size=1")  # re-measured with run.force; result.json would not fit
    new = _job(sweep, "1", root, "workload.batch_size=2")
    _result(kept, start - 3600)  # an earlier sweep's result, left as it was
    _result(new, start + 1)
    full = "could not write result.json (File too large): free space"
    outcomes = [Outcome("failed", str(kept), message=full, job="0"), Outcome("ok", str(new), headline=1.0, job="1")]
    summary = summarize_sweep(sweep, start, outcomes)
    assert _statuses(summary) == [("0", "failed"), ("1", "measured")]
    assert summary["jobs"][0]["message"] == full and summary["jobs"][0]["run_dir"] == str(kept)
    assert summary["counts"] == {"measured": 1, "skipped": 0, "failed": 1, "incomplete": 0, "invalid": 0}


def test_outcome_of_a_job_with_nothing_on_disk_is_a_job_of_its_own(tmp_path):
    """hydra.output_subdir=null (or a disk too full for Hydra's job files): no config to read the job from."""
    sweep, start = tmp_path / "sweep", time.time()
    sweep.mkdir()
    run_dir = tmp_path / "out" / "runs" / "pytorch_tiny_bs2-abc"
    summary = summarize_sweep(
        sweep,
        start,
        [
            {
                "status": "failed",
                "run_dir": str(run_dir),
                "message": "disk full",
                "user_error": False,
                "headline": None,
                "job": "0",
            },
            Outcome("skipped", str(tmp_path / "out" / "runs" / "x-1"), job="1"),
        ],
    )
    assert summary["jobs"][0] == {
        "job": "0",
        "status": "failed",
        "run_id": "pytorch_tiny_bs2-abc",
        "run_dir": str(run_dir.resolve()),
        "message": "disk full",
    }
    assert summary["counts"]["failed"] == 1 and summary["counts"]["skipped"] == 1


def test_outcomes_from_other_machines_match_by_run_dir_or_take_an_unfinished_job(tmp_path):
    """A container's outcome names its run dir but not its job; a Slurm job that died names neither."""
    sweep, root, start = tmp_path / "sweep", tmp_path / "out", time.time()
    done = _job(sweep, "0", root, "workload.batch_size=1")
    _job(sweep, "1", root, "workload.batch_size=2")  # nothing in its run dir, but its outcome says which it is
    _job(sweep, "2", root, "workload.batch_size=4")  # killed: nothing in its run dir
    _result(done, start + 1)
    outcomes = [
        {"status": "failed", "run_dir": None, "message": "job #2 did not finish: killed"},
        {"status": "ok", "run_dir": str(done), "message": None},
        {"status": "invalid", "run_dir": None, "message": "bad", "job": "1"},
    ]
    summary = summarize_sweep(sweep, start, outcomes)
    assert _statuses(summary) == [("0", "measured"), ("1", "invalid"), ("2", "failed")]
    assert [j["message"] for j in summary["jobs"]] == [None, "bad", "job #2 did not finish: killed"]
    assert sum(summary["counts"].values()) == 3
