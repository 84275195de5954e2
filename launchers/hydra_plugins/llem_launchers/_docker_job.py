"""Inside a llem image: run the jobs the Docker launcher prepared (one engine configuration, in
order, so llem's worker keeps the engine loaded between them), write each one's outcome, exit.

    python -m hydra_plugins.llem_launchers._docker_job /abs/job/dir/llem-job.json [more job files]

Exit status: the worst of its jobs: 0 measured or skipped, 1 failed, 2 refused (an invalid config,
or an image whose llem version or config schema differs from the host's); 128 + the signal when
SIGINT/SIGTERM stopped it (`docker stop`, or the host's llem stopping): the job being measured
records itself as interrupted (in the mounted run dir, and as its outcome), the later ones as not
started. llem handles both signals itself, so it stops cleanly also as the container's PID 1
(without `--init`, the kernel drops a signal that PID 1 has no handler for).
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
    from pathlib import Path

    from llem.host import interrupt

    interrupt.install(force_on_repeat=False)  # first, before the heavy imports; a repeated signal is ignored
    from llem.run.worker import close_warm_worker

    from ._stopping import not_started

    codes = [0]
    try:
        for arg in argv:
            if interrupt.received() is None:
                try:
                    codes.append(run_one(arg))
                    continue
                except interrupt.Interrupted:  # outside the measurement (run_one records one inside it)
                    pass
            if not Path(arg).with_name("llem-outcome.json").is_file():
                _write_outcome(Path(arg), not_started(Path(arg).parent.name))
    finally:
        close_warm_worker()  # the last job's engine is released before the container exits
    stopped = interrupt.received()
    return interrupt.exit_code(stopped) if stopped is not None else max(codes)


def run_one(job_path: str) -> int:
    import dataclasses
    import json
    from pathlib import Path

    import llem
    from llem.config.spec import SCHEMA_VERSION

    from ._docker_argv import mismatch_message

    job_file = Path(job_path)
    job = job_file.parent.name  # the job's folder in the sweep: how the host's summary matches outcomes
    payload = json.loads(job_file.read_text())
    host = payload["host"]
    mine = {"llem_version": llem.__version__, "schema_version": SCHEMA_VERSION}
    if (host["llem_version"], host["schema_version"]) != (mine["llem_version"], mine["schema_version"]):
        msg = mismatch_message(host["image"], mine, host, host["build_command"])
        print(f"llem: error: {msg}", file=sys.stderr)
        _write_outcome(
            job_file, {"status": "invalid", "run_dir": None, "message": msg, "user_error": True, "headline": None, "job": job}
        )
        return 2
    cfg = payload["config"]
    if payload.get("renumber_gpus"):  # the device request exposes the job's GPUs as 0..n-1 in here
        cfg["hardware"]["gpus"] = list(range(len(cfg["hardware"]["gpus"])))
    from omegaconf import OmegaConf

    from llem.cli.app import run_config
    from llem.host.interrupt import Interrupted, signal_name
    from llem.sweep.ledger import Outcome

    try:
        outcome = run_config(cfg, OmegaConf.to_yaml(OmegaConf.create(cfg)))
    except Interrupted as stopped:  # its run dir records it (llem.cli.app); the host's summary counts it
        outcome = stopped.outcome or Outcome("not_started", message=f"stopped by {signal_name(stopped.signum)} before it started")
    outcome = dataclasses.replace(outcome, job=job)
    _write_outcome(job_file, dataclasses.asdict(outcome))
    return {"ok": 0, "skipped": 0, "failed": 1}.get(outcome.status, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
