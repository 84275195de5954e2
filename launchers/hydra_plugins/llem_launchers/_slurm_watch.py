"""Waiting on a Slurm job that may have died without a word.

submitit learns a job's end from `sacct`; on a cluster without accounting (no slurmdbd: small
labs, the CI's one-node Slurm) sacct fails and submitit counts the state as UNKNOWN, i.e. still
running, so a job killed before it wrote its result file (scancel, a node lost, a full disk) is
waited for forever. Here, a job that `squeue` no longer lists and that has left no result file
within a grace period is gone: the launcher then records its points as failed."""

from __future__ import annotations

import subprocess
import time

GRACE_S = 60.0  # squeue forgets a job at once; its result file may land a moment after it ends
POLL_S = 2.0


def listed_by_squeue(job_id: str) -> bool | None:
    """Whether squeue still lists the job (None: squeue itself did not answer)."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # An unknown id is an error for squeue once the job has left its memory.
        return False if "Invalid job id" in out.stderr else None
    return bool(out.stdout.strip())


def wait_until_done_or_gone(job, grace_s: float = GRACE_S, poll_s: float = POLL_S) -> bool:
    """True once submitit says the job is done; False once it has been gone from squeue, with no
    result, for grace_s (slurmctld down or restarting counts as still there)."""
    gone_since = None
    while not job.done():
        listed = listed_by_squeue(str(job.job_id))
        if listed is False:
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since >= grace_s:
                return job.done(force_check=True)
        else:
            gone_since = None
        time.sleep(poll_s)
    return True
