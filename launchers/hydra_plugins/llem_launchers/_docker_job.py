"""Inside a llem image: run the jobs the Docker launcher prepared (one engine configuration, in
order, so llem's worker keeps the engine loaded between them), write each one's outcome, exit.

    python -m hydra_plugins.llem_launchers._docker_job /abs/job/dir/llem-job.json [more job files]

Exit status: the worst of its jobs: 0 measured or skipped, 1 failed, 2 refused (an invalid config,
or an image whose llem version or config schema differs from the host's).
"""

from __future__ import annotations

import sys


def _write_outcome(job_file, outcome: dict) -> None:
    import json
    import os

    target = job_file.with_name("llem-outcome.json")
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(outcome))
    os.replace(tmp, target)


def main(argv: list[str]) -> int:
    from llem.runner import close_warm_worker

    try:
        return max(run_one(arg) for arg in argv)
    finally:
        close_warm_worker()  # the last job's engine is released before the container exits


def run_one(job_path: str) -> int:
    import dataclasses
    import json
    from pathlib import Path

    import llem
    from llem.spec import SCHEMA_VERSION

    from ._docker_argv import mismatch_message

    job_file = Path(job_path)
    job = job_file.parent.name  # the job's folder in the sweep: how the host's summary matches outcomes
    payload = json.loads(job_file.read_text())
    host = payload["host"]
    mine = {"llem_version": llem.__version__, "schema_version": SCHEMA_VERSION}
    if (host["llem_version"], host["schema_version"]) != (mine["llem_version"], mine["schema_version"]):
        msg = mismatch_message(host["image"], mine, host, host["build_command"])
        print(f"llem: error: {msg}", file=sys.stderr)
        _write_outcome(job_file, {"status": "invalid", "run_dir": None, "message": msg, "user_error": True,
                                  "headline": None, "job": job})
        return 2
    cfg = payload["config"]
    if payload.get("renumber_gpus"):  # the device request exposes the job's GPUs as 0..n-1 in here
        cfg["hardware"]["gpus"] = list(range(len(cfg["hardware"]["gpus"])))
    from omegaconf import OmegaConf

    from llem.app import run_config

    outcome = dataclasses.replace(run_config(cfg, OmegaConf.to_yaml(OmegaConf.create(cfg))), job=job)
    _write_outcome(job_file, dataclasses.asdict(outcome))
    return {"ok": 0, "skipped": 0, "failed": 1}.get(outcome.status, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
