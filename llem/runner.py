"""Isolation: each measurement runs in its own spawned worker process (plain data in and out),
so engines that cannot share a CUDA context never meet and a crash becomes a failure record."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from pathlib import Path
from typing import Optional


class JobFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", "job failed"))
        self.error = error


# Test-only hook (tests/faults): cap the worker's address space so that a too-large workload fails
# an allocation, as it would on a smaller machine; never set it for real measurements.
MEMORY_LIMIT_ENV = "LLEM_TEST_WORKER_MEMORY_LIMIT_MB"
_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or any(m in text for m in _OOM_MARKERS)


def _error(exc: BaseException) -> dict:
    from llem.errors import UserError

    message = str(exc) or type(exc).__name__
    record = {"type": type(exc).__name__, "message": message, "user_error": isinstance(exc, UserError),
              "traceback": traceback.format_exc()}
    if _out_of_memory(exc):
        record["out_of_memory"] = True
        record["message"] = (f"out of memory ({message.splitlines()[0][:300]}): reduce workload.batch_size, "
                             "workload.input_tokens or workload.output_tokens, or use a larger device")
    return record


def _limit_memory() -> None:
    limit_mb = os.environ.get(MEMORY_LIMIT_ENV)
    if limit_mb:
        import resource

        limit = int(float(limit_mb) * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _measure(spec_dict: dict, run_dir: str, quiet: bool) -> dict:
    from llem.envinfo import snapshot
    from llem.harness import measure
    from llem.progress import stage_printer
    from llem.spec import JobSpec

    spec = JobSpec.model_validate(spec_dict)
    return {"measured": measure(spec, Path(run_dir), stage_printer(quiet)), "environment": snapshot()}


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _worker(conn, spec_dict: dict, run_dir: str, quiet: bool, env: dict) -> None:
    os.environ.update(env)
    _quiet_libraries()
    try:
        _limit_memory()
        payload = ("ok", _measure(spec_dict, run_dir, quiet))
    except BaseException as exc:  # everything goes back to the parent as data
        payload = ("error", _error(exc))
    conn.send(payload)
    conn.close()


def _job_env(spec) -> dict:
    env = {}
    if spec.hardware.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.hardware.gpus)
    return env


def run_isolated(spec, run_dir: Path, quiet: bool = False) -> dict:
    """Measure in a child process; raise JobFailed with a plain error record on any failure."""
    if spec.run.isolation == "inline":
        os.environ.update(_job_env(spec))
        _quiet_libraries()
        try:
            return _measure(spec.to_dict(), str(run_dir), quiet)
        except Exception as exc:
            raise JobFailed(_error(exc)) from exc
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(child, spec.to_dict(), str(run_dir), quiet, _job_env(spec)),
                       name=f"llem-{spec.run_id()}")
    proc.start()
    child.close()
    deadline: Optional[float] = time.monotonic() + spec.run.timeout_s if spec.run.timeout_s else None
    try:
        while True:
            if parent.poll(0.2):
                try:
                    status, payload = parent.recv()
                except EOFError:  # died mid-send
                    status, payload = "error", None
                break
            if not proc.is_alive():
                status, payload = "error", None
                break
            if deadline and time.monotonic() > deadline:
                proc.kill()
                proc.join()
                raise JobFailed({"type": "Timeout", "message": f"the job exceeded run.timeout_s={spec.run.timeout_s:g} s and was killed",
                                 "user_error": False, "traceback": None})
    except KeyboardInterrupt:
        proc.kill()
        proc.join()
        raise
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
        proc.join()
    if status == "ok":
        return payload
    if payload is None:
        code = proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        payload = {"type": "WorkerDied", "message": f"the measurement process {how} before reporting (out of memory or a crash in the engine?)",
                   "user_error": False, "traceback": None, "exitcode": code}
    raise JobFailed(payload)
