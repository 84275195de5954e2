"""What happened to each job of a sweep, read from disk, so it is right even when the jobs ran in
other processes, on Slurm nodes or in containers. Hydra saves each job's config under
<sweep_dir>/<job>/.hydra/config.yaml; from it we find the job's run dir and read its outcome.

The launcher process may also know what its jobs did (llem.sweep.ledger.SESSION: jobs it ran itself, and
those llem's launchers ran elsewhere). Where it does, that outcome decides the job's status: only it
knows that a job could not write its run dir (a full disk leaves an older result, or nothing), or
that a job found the result an earlier job of the same sweep had measured. A job whose outcome
names its run dir is not rebuilt from its config; only the others are (a spec per job, once)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from llem import paths
from llem.config.spec import build_spec
from llem.errors import UserError
from llem.results.complete import complete_result
from llem.results.io import read_json

STATUSES = ("measured", "skipped", "failed", "incomplete", "invalid", "interrupted", "not_started")


def _job_order(name: Optional[str]):
    """Hydra's job dirs (0, 1, ..., 10) in number order; other names after them, unnamed jobs last."""
    if name is None:
        return (2, 0, "")
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _job_configs(sweep_dir: Path) -> list[Path]:
    found = [p for p in Path(sweep_dir).glob(f"*/{paths.HYDRA_JOB_CONFIG}")]
    return sorted(found, key=lambda p: _job_order(p.parent.parent.name))


def job_outcome(run_dir: Path, since_unix_s: float) -> tuple[str, Optional[str]]:
    """(status, message) of a run dir as seen after a sweep that started at since_unix_s."""

    def load(name: str) -> Optional[dict]:
        try:
            return read_json(run_dir / name)
        except (OSError, ValueError):
            return None

    result = complete_result(run_dir)  # the one reader (llem.results.complete): a hollow result is not a result
    if result is not None:
        finished = result.get("identity", {}).get("finished_unix_s") or 0
        return ("measured" if finished >= since_unix_s else "skipped"), None
    stopped = load(paths.INTERRUPTED)
    if stopped:
        return "interrupted", (stopped.get("error") or {}).get("message")
    failure = load(paths.FAILURE)
    if failure:
        err = failure.get("error") or {}
        return "failed", f"{err.get('type')}: {err.get('message')}"
    return "incomplete", "no result and no failure record (the job was killed, or never started)"


def _job_run_dir(cfg_path: Path) -> tuple[str, str, bool]:
    """(run id, run dir, run.force) of the job whose Hydra config is at cfg_path; UserError if invalid."""
    from omegaconf import OmegaConf

    spec = build_spec(OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True))
    return spec.run_id(), str(paths.spec_run_dir(spec).resolve()), spec.run.force


def _disk_jobs(sweep_dir: Path, since_unix_s: float, known: Optional[dict] = None) -> list[dict]:
    """known: {job name: run dir} from the outcomes this process holds; those jobs' configs are not
    rebuilt (their outcome decides the status where disk and outcome disagree)."""

    known = known or {}
    jobs, measured_dirs = [], set()
    for cfg_path in _job_configs(Path(sweep_dir)):
        job = {"job": cfg_path.parent.parent.name}
        if known.get(job["job"]):
            run_dir = str(Path(known[job["job"]]).resolve())
            run_id, force = Path(run_dir).name, True  # a shared run dir is told apart by the outcomes
        else:
            try:
                run_id, run_dir, force = _job_run_dir(cfg_path)
            except UserError as exc:
                job.update(status="invalid", message=str(exc))
                jobs.append(job)
                continue
        status, message = job_outcome(Path(run_dir), since_unix_s)
        if status == "measured":
            # Jobs of one sweep with the same config share a run dir: the first measured it, a later one
            # found its result complete (unless run.force made it measure again).
            if run_dir in measured_dirs and not force:
                status = "skipped"
            measured_dirs.add(run_dir)
        job.update(status=status, run_id=run_id, run_dir=run_dir, message=message)
        jobs.append(job)
    return jobs


_FROM_OUTCOME = {
    "ok": "measured",
    "skipped": "skipped",
    "failed": "failed",
    "invalid": "invalid",
    "interrupted": "interrupted",
    "not_started": "not_started",
}
NO_RESULT = ("incomplete", "failed", "invalid", "interrupted", "not_started")


def _as_dict(outcome) -> dict:
    import dataclasses

    return dataclasses.asdict(outcome) if dataclasses.is_dataclass(outcome) else dict(outcome)


def _merge(jobs: list[dict], outcomes) -> list[dict]:
    """Jobs read from disk, corrected by the outcomes this process holds; an outcome without a job on
    disk (its run dir or Hydra's job dir could not be written) becomes a job of its own."""
    by_name = {j["job"]: j for j in jobs}
    claimed: set[int] = set()
    extra = []

    def unclaimed(match) -> Optional[dict]:
        return next((j for j in jobs if id(j) not in claimed and match(j)), None)

    def specificity(o: dict) -> int:  # an outcome that names its job claims it before a vaguer one can
        return 0 if o.get("job") is not None else 1 if o.get("run_dir") else 2

    for o in sorted(map(_as_dict, outcomes), key=specificity):
        status = _FROM_OUTCOME.get(o.get("status"), "failed")
        run_dir = str(Path(o["run_dir"]).resolve()) if o.get("run_dir") else None
        if o.get("job") is not None:
            job = by_name.get(str(o["job"]))
            job = job if job is not None and id(job) not in claimed else None
        elif run_dir is not None:
            job = unclaimed(lambda j: j.get("run_dir") == run_dir)
        else:  # a job that died before saying which it was: it left no result
            job = unclaimed(lambda j: j["status"] in NO_RESULT)
        message = o.get("message") if status in NO_RESULT else None
        if job is None:
            job = {
                "job": None if o.get("job") is None else str(o["job"]),
                "status": status,
                "run_id": Path(run_dir).name if run_dir else None,
                "run_dir": run_dir,
                "message": message,
            }
            extra.append(job)
        elif job["status"] != status:  # where they agree, the disk's record says more (error type)
            job.update(status=status, message=message)
        claimed.add(id(job))
    return jobs + extra


def summarize_sweep(sweep_dir: Path, since_unix_s: float, outcomes=()) -> dict:
    """outcomes: llem.sweep.ledger.Outcome objects (or their dicts) of this sweep's jobs, where known."""
    outcomes = [_as_dict(o) for o in outcomes]
    known = {str(o["job"]): o["run_dir"] for o in outcomes if o.get("job") is not None and o.get("run_dir")}
    jobs = sorted(_merge(_disk_jobs(Path(sweep_dir), since_unix_s, known), outcomes), key=lambda j: _job_order(j.get("job")))
    counts = {s: sum(j["status"] == s for j in jobs) for s in STATUSES}
    if not (counts["interrupted"] or counts["not_started"]):  # counted where a signal stopped the sweep
        del counts["interrupted"], counts["not_started"]
    return {"sweep_dir": str(Path(sweep_dir).resolve()), "jobs": jobs, "counts": counts}


def summary_line(counts: dict) -> str:
    line = (
        f"{counts['measured']} measured, {counts['skipped']} skipped (complete result already on disk), {counts['failed']} failed"
    )
    if counts.get("incomplete"):
        line += f", {counts['incomplete']} incomplete"
    if counts.get("invalid"):
        line += f", {counts['invalid']} invalid"
    if counts.get("interrupted") or counts.get("not_started"):  # the sweep was stopped (llem/host/interrupt.py)
        line += f", {counts.get('interrupted', 0)} interrupted, {counts.get('not_started', 0)} not started"
    return line
