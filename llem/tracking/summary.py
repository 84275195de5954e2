"""What happened to each job of a sweep, read from disk, so it is right even when the jobs ran in
other processes, on Slurm nodes or in containers. Hydra saves each job's config under
<sweep_dir>/<job>/.hydra/config.yaml; from it we find the job's run dir and read its outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

STATUSES = ("measured", "skipped", "failed", "incomplete", "invalid")


def _job_configs(sweep_dir: Path) -> list[Path]:
    found = [p for p in Path(sweep_dir).glob("*/.hydra/config.yaml")]

    def order(p: Path):
        name = p.parent.parent.name
        return (0, int(name), "") if name.isdigit() else (1, 0, name)

    return sorted(found, key=order)


def job_outcome(run_dir: Path, since_unix_s: float) -> tuple[str, Optional[str]]:
    """(status, message) of a run dir as seen after a sweep that started at since_unix_s."""
    from llem.results.io import read_json

    def load(name: str) -> Optional[dict]:
        try:
            return read_json(run_dir / name)
        except (OSError, ValueError):
            return None

    result = load("result.json")
    if result and result.get("status") == "ok":
        finished = result.get("identity", {}).get("finished_unix_s") or 0
        return ("measured" if finished >= since_unix_s else "skipped"), None
    failure = load("failure.json")
    if failure:
        err = failure.get("error") or {}
        return "failed", f"{err.get('type')}: {err.get('message')}"
    return "incomplete", "no result and no failure record (the job was killed, or never started)"


def summarize_sweep(sweep_dir: Path, since_unix_s: float) -> dict:
    from omegaconf import OmegaConf

    from llem.errors import UserError
    from llem.spec import build_spec

    jobs = []
    for cfg_path in _job_configs(Path(sweep_dir)):
        job = {"job": cfg_path.parent.parent.name}
        try:
            spec = build_spec(OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True))
        except UserError as exc:
            job.update(status="invalid", message=str(exc))
            jobs.append(job)
            continue
        run_dir = Path(spec.run.output_root) / "runs" / spec.run_id()
        status, message = job_outcome(run_dir, since_unix_s)
        job.update(status=status, run_id=spec.run_id(), run_dir=str(run_dir.resolve()), message=message)
        jobs.append(job)
    counts = {s: sum(j["status"] == s for j in jobs) for s in STATUSES}
    return {"sweep_dir": str(Path(sweep_dir).resolve()), "jobs": jobs, "counts": counts}


def summary_line(counts: dict) -> str:
    line = (f"{counts['measured']} measured, {counts['skipped']} skipped (complete result already on disk), "
            f"{counts['failed']} failed")
    if counts.get("incomplete"):
        line += f", {counts['incomplete']} incomplete"
    if counts.get("invalid"):
        line += f", {counts['invalid']} invalid"
    return line
