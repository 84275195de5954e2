"""Isolation: each measurement runs in its own spawned worker process (plain data in and out),
so engines that cannot share a CUDA context never meet and a crash becomes a failure record."""

from __future__ import annotations

import atexit
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Optional

from llem import paths
from llem.host import interrupt
from llem.run.envinfo import snapshot
from llem.errors import UserError
from llem.config.grouping import engine_group as group_of
from llem.run.job import measure
from llem.host.multicast import multicast_off, spans_gpus
from llem.run.plain import plain
from llem.host.progress import console, library_bars, stage_printer
from llem.results.interrupted import interrupted_record
from llem.results.io import write_json
from llem.config.spec import JobSpec
from llem.host.telemetry import opt_out
from llem.host.visible_devices import launch_devices, narrow_visible, restore_launch_devices
from llem.harness.warm import EngineMismatch, WarmEngines


class JobFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", "job failed"))
        self.error = error


_OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or any(m in text for m in _OOM_MARKERS)


def _error(exc: BaseException) -> dict:
    message = str(exc) or type(exc).__name__
    record = {
        "type": type(exc).__name__,
        "message": message,
        "user_error": isinstance(exc, UserError),
        "traceback": traceback.format_exc(),
    }
    if _out_of_memory(exc):
        record["out_of_memory"] = True
        record["message"] = (
            f"out of memory ({message.splitlines()[0][:300]}): reduce workload.batch_size, "
            "workload.input_tokens or workload.output_tokens, or use a larger device"
        )
    return record


def _measure(spec, run_dir: str, quiet: bool, warm=None) -> dict:
    """Plain data back to the parent: the Measured record as a dict, and the environment."""
    printer = stage_printer(quiet)
    interrupt.job_started()

    def progress(message: str) -> None:  # the stage is what an interrupted record says the job was doing
        interrupt.stage(message)
        printer(message)

    measured = measure(spec, Path(run_dir), progress, warm)
    return plain({"measured": measured.to_dict(), "environment": snapshot()})


def _quiet_libraries() -> None:
    opt_out(os.environ)  # and so for every server this worker starts: they inherit its environment
    library_bars()  # a job started by Slurm or submitit, not through llem's CLI, writes to a log file
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_PR_SET_PDEATHSIG = 1
_PARENT_WATCH_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """The worker stops when llem's process does, however it ended (kill -9 included): Linux sends it
    SIGTERM (PR_SET_PDEATHSIG, as the sampler and engine servers have) and, where prctl is missing or
    the parent was gone before it was set, a thread that sees the parent change sends it instead.
    SIGTERM stops the measurement as a signal does (the engine released, any server and the sampler
    stopped); _orphaned_cleanup then keeps its windows as interrupted.json, and the worker exits
    after interrupt.GRACE_S at most."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_WATCH_S)
        os.kill(os.getpid(), signal.SIGTERM)  # PDEATHSIG may have sent it already: the worker ignores a second
        time.sleep(interrupt.GRACE_S)
        os._exit(1)  # cleanup hung: nobody is left to kill this process

    threading.Thread(target=watch, daemon=True, name="llem-parent-watch").start()


def _orphaned(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def _keep_interrupted(job: tuple, exc: interrupt.Interrupted, started: float) -> None:
    """llem's process is gone, so nobody else will record this job: its windows so far become the
    run dir's interrupted.json (never a result; the next run of the command measures it again)."""
    spec_dict, run_dir, _ = job
    try:
        spec = JobSpec.model_validate(spec_dict)
        record = interrupted_record(
            spec_dict,
            spec.run_id(),
            spec.config_hash(),
            exc.signum,
            exc.partial or interrupt.partial(),
            started,
            spec.run.repeats,
        )
        record["error"]["message"] += "; llem's own process had died (killed?), so its worker stopped too"
        write_json(Path(run_dir) / paths.INTERRUPTED, record)
    except Exception:  # a failed write must not keep an orphan alive
        pass


def _worker(conn, job: tuple, env: dict, parent_pid: Optional[int] = None) -> None:
    """The spawned process's target: serve jobs, then exit without the interpreter's teardown."""
    _serve(conn, job, env, parent_pid)
    _exit_without_teardown()


def _exit_without_teardown() -> None:
    """Exit code 0 once the engine is released and the pipe closed, skipping only the interpreter's
    teardown of its modules: with torch and transformers imported that alone took ~1.3 s of a 10 s
    tiny run on 2 cores (docs/benchmarks.md), paid at the end of every job's worker. What a normal
    exit does besides still happens: the atexit handlers (engines register their own cleanup there),
    multiprocessing's own exit work (its finalizers; any child process it started is joined or
    terminated) and the flush of stdout and stderr. Reached only on a normal return: an exception
    that escapes the job loop still exits through multiprocessing with its traceback and code 1."""
    from multiprocessing import util

    atexit._run_exitfuncs()
    util._exit_function()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def _serve(conn, job: tuple, env: dict, parent_pid: Optional[int]) -> None:
    """Measure jobs until told to stop. After a failure the worker exits: an engine that raised is
    not trusted with the next job. A job for another engine configuration is handed back."""
    os.environ.update(env)
    _quiet_libraries()
    interrupt.install_worker()  # SIGINT/SIGTERM: the engine is still released and any server stopped
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    warm = WarmEngines()
    try:
        while job is not None:
            spec_dict, run_dir, quiet = job
            started = time.time()
            try:
                payload = ("ok", _measure(JobSpec.model_validate(spec_dict), run_dir, quiet, warm))
            except EngineMismatch as exc:
                conn.send(("mismatch", str(exc)))
                return
            except interrupt.Interrupted as exc:  # what it had measured goes back; the engine is released below
                if parent_pid is not None and _orphaned(parent_pid):
                    _keep_interrupted(job, exc, started)
                _send_quietly(conn, ("interrupted", plain(dict(exc.partial or interrupt.partial(), signal=exc.signum))))
                return
            except BaseException as exc:  # everything goes back to the parent as data
                conn.send(("error", plain(_error(exc))))
                return
            conn.send(payload)
            job = _next_job(conn)
    finally:
        warm.close()
        conn.close()


def _send_quietly(conn, message) -> None:
    try:
        conn.send(message)
    except (OSError, ValueError):  # the parent is gone (killed at once): nothing to tell
        pass


def _next_job(conn) -> Optional[tuple]:
    """Wait for the parent's next job; None when it says stop or is gone."""
    try:
        message = conn.recv()
    except (EOFError, OSError, KeyboardInterrupt):
        return None
    return message[1] if message and message[0] == "job" else None


def job_env(spec) -> dict:
    # CUDA's default order is fastest-first; NVML's is by PCI bus. Set before CUDA starts in the
    # worker, so that a job's CUDA index names the GPU whose counter llem reads (mixed nodes).
    env = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    if spec.hardware.gpus is not None:  # counted in what llem was started with (llem/host/visible_devices.py)
        env["CUDA_VISIBLE_DEVICES"] = narrow_visible(launch_devices(), spec.hardware.gpus)
    if spans_gpus(spec.hardware):  # every engine process inherits the worker's environment (llem/host/multicast.py)
        multicast_off(env, os.environ)
    return env


def engine_group(spec) -> str:
    return group_of(spec.to_dict())


class _Worker:
    """A spawned measurement process and the parent's end of its pipe."""

    def __init__(self, spec, job: tuple):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        self.group = engine_group(spec)
        self.proc = ctx.Process(target=_worker, args=(child, job, job_env(spec), os.getpid()), name=f"llem-{spec.run_id()}")
        with interrupt.spawning():
            self.proc.start()
        interrupt.child_started(self.proc.pid)
        child.close()

    def send(self, job: tuple) -> None:
        self.conn.send(("job", job))

    def stop(self, grace_s: float = 60.0) -> None:
        """Ask the worker to release its engine and exit; kill it if it does not."""
        if self.proc.is_alive():
            try:
                self.conn.send(("stop", None))
            except (OSError, ValueError):
                pass
            self.proc.join(timeout=grace_s)
        self.kill()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        interrupt.child_ended(self.proc.pid)
        self.conn.close()


_WARM: Optional[_Worker] = None  # the worker kept alive after a job's success, for the next job of its group


def close_warm_worker() -> None:
    """Stop the worker kept between jobs (end of a sweep, or exit): its engine and any server go with it."""
    global _WARM
    worker, _WARM = _WARM, None
    if worker is not None:
        worker.stop()


atexit.register(close_warm_worker)


def run_isolated(spec, run_dir: Path, quiet: bool = False) -> dict:
    """Measure in a child process; raise JobFailed with a plain error record on any failure.

    With run.reuse_engine (the default) the worker stays alive after a successful job, and the next
    job of the same engine group goes to it: a sweep over workload axes loads the engine once."""
    global _WARM
    if spec.run.isolation == "inline":
        if spec.hardware.gpus is None:
            restore_launch_devices()  # an earlier inline job of this process may have narrowed them
        os.environ.update(job_env(spec))
        _quiet_libraries()
        try:
            return _measure(spec, str(run_dir), quiet)
        except interrupt.Interrupted as exc:
            exc.partial = exc.partial or interrupt.partial()
            raise
        except Exception as exc:
            raise JobFailed(_error(exc)) from exc
    job = (spec.to_dict(), str(run_dir), quiet)
    worker, _WARM = _WARM, None
    if worker is not None and (not spec.run.reuse_engine or worker.group != engine_group(spec) or not worker.proc.is_alive()):
        worker.stop()
        worker = None
    if worker is not None:
        try:
            worker.send(job)
        except (OSError, ValueError):  # it died between the check and the send: the job never reached it
            worker.kill()
            worker = None
    if worker is not None:
        status, payload = _wait(worker, spec)
        if status == "mismatch":  # same group, but the engine is sized from the workload differently
            if not quiet:
                console().print(f"[dim]llem: new engine for {spec.run_id()} ({payload})[/dim]")
            worker.stop()
            worker = None
    if worker is None:
        worker = _Worker(spec, job)
        status, payload = _wait(worker, spec)
    if status == "ok":
        if spec.run.reuse_engine:
            _WARM = worker
        else:
            worker.stop()
        return payload
    worker.proc.join(timeout=30)  # it exits by itself after reporting an error: let it release the engine
    worker.kill()
    if payload is None:
        code = worker.proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        payload = {
            "type": "WorkerDied",
            "message": f"the measurement process {how} before reporting (out of memory or a crash in the engine?)",
            "user_error": False,
            "traceback": None,
            "exitcode": code,
        }
    raise JobFailed(payload)


def _wait(worker: _Worker, spec) -> tuple[str, Optional[dict]]:
    """The worker's answer to one job: ("ok", result), ("error", record), ("mismatch", why) or ("error", None) if it died."""
    deadline: Optional[float] = time.monotonic() + spec.run.timeout_s if spec.run.timeout_s else None
    try:
        while True:
            if worker.conn.poll(0.2):
                try:
                    return worker.conn.recv()
                except (EOFError, OSError):  # died mid-send
                    return "error", None
            if not worker.proc.is_alive():
                if worker.conn.poll(0):  # it answered and exited (an error) between the two checks
                    continue
                worker.proc.join()
                return "error", None
            if deadline and time.monotonic() > deadline:
                worker.kill()
                raise JobFailed(
                    {
                        "type": "Timeout",
                        "message": f"the job exceeded run.timeout_s={spec.run.timeout_s:g} s and was killed",
                        "user_error": False,
                        "traceback": None,
                    }
                )
    except interrupt.Interrupted as exc:
        raise interrupt.Interrupted(exc.signum, _stop_interrupted(worker, exc.signum)) from None
    except KeyboardInterrupt:
        worker.kill()
        raise


def _stop_interrupted(worker: _Worker, signum: int) -> dict:
    """This process was signalled while its worker measured: pass the signal on (it may have gone to
    llem's pid only), take the worker's account of what it measured, let it release the engine and
    stop any server and the sampler (interrupt.GRACE_S at most), then make sure it is gone."""
    deadline = time.monotonic() + interrupt.GRACE_S
    partial, resend = None, 0.0
    while time.monotonic() < deadline and partial is None:
        if time.monotonic() >= resend:  # again until it answers: a worker still starting up ignores signals
            try:
                os.kill(worker.proc.pid, signum)
            except OSError:
                pass
            resend = time.monotonic() + 0.5
        if worker.conn.poll(0.1):
            try:
                status, payload = worker.conn.recv()
            except (EOFError, OSError):
                break
            partial = payload if status == "interrupted" else {"stage": f"finished ({status}) as it was stopped", "windows": []}
        elif not worker.proc.is_alive():
            break
    worker.proc.join(timeout=max(0.0, deadline - time.monotonic()))
    worker.kill()
    return partial or {"stage": None, "windows": []}
