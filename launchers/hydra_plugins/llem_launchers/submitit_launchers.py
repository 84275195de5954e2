"""`hydra/launcher=local` and `hydra/launcher=slurm`: llem's presets over hydra-submitit-launcher.

- local: jobs run one at a time (concurrent jobs on one GPU or CPU corrupt each other's energy
  numbers). `hydra.launcher.parallel=true` runs them together, and is refused unless every job
  owns a disjoint list of GPUs (`hardware.gpus`).
- slurm: each job asks Slurm for the GPUs, CPUs and memory of its `hardware` profile; jobs with
  different needs go in different job arrays. With `array_parallelism=1` (the preset) one job
  runs at a time across the whole sweep.

Both run every job in its own process (a submitit worker, then llem's spawned measurement
worker), so engines that must not share a process never do. Outcomes of jobs that ran elsewhere
come back with the job's return and join this process's sweep summary.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.utils import JobReturn

from llem.host.interrupt import Interrupted, spawning
from llem.sweep.ledger import outcome_from

from ._common import (
    caught_finished,
    failed_outcome,
    isolation_note,
    job_gpu_count,
    job_return,
    log,
    not_started_outcomes,
    outcomes_in,
    refuse,
    resolved_device,
)
from ._pending import ComposedLauncher, pending_jobs
from ._slurm_watch import GRACE_S, wait_until_done_or_gone
from ._stopping import not_started, pass_on

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher as _SubmititLocal
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as _SubmititSlurm
except ImportError:  # the `slurm` extra is not installed: stand-ins that say how to install it
    from hydra.plugins.launcher import Launcher

    class _Missing(Launcher):
        _EXECUTOR = "?"

        def __init__(self, **params: Any) -> None:
            refuse(
                f"hydra/launcher={'local' if self._EXECUTOR == 'local' else 'slurm'} needs hydra-submitit-launcher: "
                "run pip install 'llem[slurm]'."
            )

    class _SubmititLocal(_Missing):  # type: ignore[no-redef]
        _EXECUTOR = "local"

    class _SubmititSlurm(_Missing):  # type: ignore[no-redef]
        _EXECUTOR = "slurm"


_BASE_KEYS = {
    "submitit_folder",
    "timeout_min",
    "cpus_per_task",
    "gpus_per_node",
    "tasks_per_node",
    "mem_gb",
    "nodes",
    "name",
    "stderr_to_stdout",
}


class _LlemSubmitit(ComposedLauncher):
    """Shared launch_points(): per-job resources, batches, one-at-a-time waiting, failure records."""

    _EXECUTOR = "?"
    _LLEM_KEYS: tuple[str, ...] = ()

    def __init__(self, **params: Any) -> None:
        self.llem_options = {k: params.pop(k) for k in self._LLEM_KEYS if k in params}
        super().__init__(**params)  # type: ignore[call-arg]

    # Runs in the job's own process: Hydra's JobReturn, whose value is llem's Outcome of the job.
    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        from llem.host import interrupt
        from llem.sweep.ledger import outcome_from

        interrupt.install(force_on_repeat=False)  # a stop is recorded, then returned (_stopping.py)
        if interrupt.received() is not None:
            return job_return(args[0], outcome_from(not_started(args[2])))
        try:
            return self._run_composed(*args)
        except interrupt.Interrupted as stopped:  # the job recorded itself (llem.cli.app), or never began
            return job_return(args[0], stopped.outcome or _finished(args[5]) or outcome_from(not_started(args[2])))

    def _run_composed(self, overrides, job_dir_key: str, job_num: int, job_id: str, singleton_state, sweep_config) -> JobReturn:
        """Hydra's submitit job, with the config the launcher composed (pickled along) instead of
        composing the point once more in the job's process."""
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import run_job, setup_globals
        from omegaconf import open_dict, read_write

        Singleton.set_state(singleton_state)
        setup_globals()
        with read_write(sweep_config.hydra.job), open_dict(sweep_config.hydra.job) as job:  # read-only once plain_job saw it
            job.id = submitit.JobEnvironment().job_id
            job.num = job_num
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,  # type: ignore[attr-defined]
            config=sweep_config,
            job_dir_key=job_dir_key,
            job_subdir_key="hydra.sweep.subdir",
        )

    # Runs in the job's own process: the jobs of one engine group one after another, so that llem's
    # measurement worker keeps the engine loaded between them (run.reuse_engine).
    def run_unit(self, unit: list[tuple]) -> list[JobReturn]:
        from llem.run.worker import close_warm_worker

        try:
            return [self(*args) for args in unit]
        finally:
            close_warm_worker()

    def job_resources(self, job: dict) -> dict:
        raise NotImplementedError

    def batches(self, jobs: list[dict]) -> list[list[int]]:
        raise NotImplementedError

    def units(self, jobs: list[dict], batch: list[int]) -> list[list[int]]:
        """The submissions of one batch: its jobs of one engine configuration go together (one
        process, one engine load) unless run.reuse_engine=false."""
        from llem.config.grouping import engine_groups

        if not all((jobs[i].get("run") or {}).get("reuse_engine", True) for i in batch):
            return [[i] for i in batch]
        return [[batch[k] for k in members] for members in engine_groups([jobs[i] for i in batch])]

    def wait_each_batch(self) -> bool:
        raise NotImplementedError

    def _executor(self, resources: dict):
        import submitit

        params = dict(self.params)  # type: ignore[attr-defined]
        for key, value in resources.items():
            if params.get(key) is None:  # an explicit hydra.launcher value wins over the profile
                params[key] = value
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        executor.update_parameters(**{k if k in _BASE_KEYS else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        return executor

    def launch_points(self, points, initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra.core.singleton import Singleton

        left = pending_jobs(self.hydra_context, self.config, points, initial_job_idx)  # type: ignore[attr-defined]
        jobs, configs, results = left.jobs, left.configs, left.returns
        job_overrides = [p.overrides for p in points]
        if not left.todo:
            log.info(f"llem {self._EXECUTOR} launcher: every job has a complete result on disk; nothing submitted")
            return results  # type: ignore[return-value]
        todo_jobs = [jobs[i] for i in left.todo]
        note = isolation_note(todo_jobs, "in its own process")
        if note:
            log.info(note)
        resources = {i: self.job_resources(jobs[i]) for i in left.todo}
        groups = [[left.todo[k] for k in batch] for batch in self.batches(todo_jobs)]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))  # type: ignore[attr-defined]
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"llem {self._EXECUTOR} launcher: {len(left.todo)} job(s) in {len(groups)} submission(s); output {sweep_dir}")
        pending: list = []
        started = time.time()
        try:
            for batch in groups:
                executor = self._executor(resources[batch[0]])
                units = self.units(jobs, batch)
                args = [
                    [
                        (
                            list(job_overrides[i]),
                            "hydra.sweep.dir",
                            initial_job_idx + i,
                            f"job_id_for_{initial_job_idx + i}",
                            Singleton.get_state(),
                            configs[i],
                        )
                        for i in unit
                    ]
                    for unit in units
                ]
                for unit in units:
                    log.info(
                        "\t"
                        + "; ".join(f"#{initial_job_idx + i} : {' '.join(job_overrides[i])}" for i in unit)
                        + (" (one process, one engine load)" if len(unit) > 1 else "")
                    )
                try:
                    with spawning():  # the job processes handle signals as llem does, not as Python would (_stopping.py)
                        submitted = executor.map_array(self.run_unit, args)
                except (OSError, RuntimeError) as exc:  # sbatch missing, or refusing (submitit's FailedJobError)
                    self._not_submitted(exc, batch, configs, job_overrides, results, initial_job_idx, first=batch is groups[0])
                    continue
                pending.append((units, submitted))
                if self.wait_each_batch():
                    self._collect(*pending[-1], jobs, configs, job_overrides, initial_job_idx, results, started)
                    pending.pop()
            while pending:
                self._collect(*pending[0], jobs, configs, job_overrides, initial_job_idx, results, started)
                pending.pop(0)
        except Interrupted as stopped:
            self._stopped(stopped, pending, jobs, configs, job_overrides, initial_job_idx, results, started)
            raise
        return results  # type: ignore[return-value]

    def _not_submitted(
        self, exc: BaseException, batch: list[int], configs, job_overrides, results, initial_job_idx: int, first: bool
    ) -> None:
        """A submission the executor refused. The sweep's first: one sentence, exit 2, nothing ran (no
        traceback: sbatch's own last line says why). A later one: its jobs failed, the sweep goes on."""
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()] or [type(exc).__name__]
        why = lines[-1].rstrip(".")
        if first:
            where = (
                "a node where sbatch works (a cluster's login node, SLURM_CONF set)"
                if self._EXECUTOR == "slurm"
                else "this machine"
            )
            refuse(
                f"the {self._EXECUTOR} launcher could not submit the sweep's first job ({why}): run it from "
                f"{where}, or choose hydra/launcher=local or inprocess."
            )
        for i in batch:
            msg = f"job #{initial_job_idx + i} was not submitted: the {self._EXECUTOR} executor refused it ({why})"
            log.error(msg)
            results[i] = job_return(
                job_overrides[i], outcome_from(dict(failed_outcome(msg), job=str(configs[i].hydra.sweep.subdir)))
            )

    def _stopped(self, stopped, pending, jobs, configs, job_overrides, initial_job_idx, results, started) -> None:
        """A signal stopped the sweep here: pass it on to the running jobs, take what they report,
        and count the jobs never submitted as not started; all of it rides on the Interrupted."""
        pass_on([job for _, submitted in pending for job in submitted], self._EXECUTOR, stopped.signum)
        for units, submitted in pending:
            self._collect(units, submitted, jobs, configs, job_overrides, initial_job_idx, results, started)
        stopped.outcomes = outcomes_in(results) + not_started_outcomes(
            [configs[i] for i, ret in enumerate(results) if ret is None]
        )

    def _collect(self, units, submitted, jobs, configs, job_overrides, initial_job_idx, results, started: float) -> None:
        for unit, job in zip(units, submitted):
            if all(results[i] is not None for i in unit):  # collected before a signal cut this short
                continue
            try:
                if self._EXECUTOR == "slurm" and not wait_until_done_or_gone(job, self.gone_grace_s()):
                    raise RuntimeError(
                        f"Slurm job {job.job_id} ended without a result (cancelled or killed; squeue no longer lists it)"
                    )
                rets = job.results()[0]
            except Exception as exc:  # the job's process died: killed by Slurm, out of memory, ...
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                rets = []
                for i in unit:
                    msg = (
                        f"job #{initial_job_idx + i} ({' '.join(job_overrides[i])}) did not finish: {first} "
                        f"(log: {job.paths.stdout})"
                    )
                    run_dir, recorded = run_record(jobs[i], started)
                    outcome = None  # a record on disk says what became of it (the summary reads it)
                    if not recorded:  # nothing does (the job may never have started)
                        log.error(msg)
                        outcome = outcome_from(dict(failed_outcome(msg, run_dir), job=str(configs[i].hydra.sweep.subdir)))
                    rets.append(job_return(job_overrides[i], outcome))
            for i, ret in zip(unit, rets):
                results[i] = ret


def _finished(sweep_config):
    """The job's outcome where its complete result was on disk when the signal came (between the end of its
    measurement and its return): measured, not "not started" (_common.caught_finished)."""
    from llem.sweep.points import task_job

    return caught_finished(task_job(sweep_config), str(sweep_config.hydra.sweep.subdir))


def run_record(job: dict, since: float) -> tuple[Optional[str], bool]:
    """A job's run directory (None if its config is invalid) and whether it holds a result, failure
    or interrupted record written since `since` (the sweep summary counts those from disk)."""
    from llem.config.spec import build_spec
    from llem.errors import UserError
    from llem.paths import INTERRUPTED, RECORDS, spec_run_dir

    try:
        spec = build_spec(job)
    except UserError:
        return None, False
    run_dir = spec_run_dir(spec)
    recorded = any((run_dir / name).is_file() and (run_dir / name).stat().st_mtime >= since for name in (*RECORDS, INTERRUPTED))
    return str(run_dir), recorded


def _cuda_visible_indices() -> Optional[list[int]]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if not env:
        return None
    try:
        return [int(x) for x in env.split(",") if x.strip()]
    except ValueError:  # UUIDs: leave submitit's numbering alone
        return None


def local_resources(job: dict) -> dict:
    """submitit_local sets each job's CUDA_VISIBLE_DEVICES from gpus_per_node (without it a job
    would see no GPU); llem's runner then narrows it to hardware.gpus where those are listed."""
    res: dict[str, Any] = {"gpus_per_node": job_gpu_count(job, resolved_device(job))}
    visible = _cuda_visible_indices()
    if visible is not None and res["gpus_per_node"] <= len(visible):
        res["visible_gpus"] = visible
    return res


def slurm_resources(job: dict) -> dict:
    """What one job asks Slurm for, from its hardware profile."""
    hw = job.get("hardware") or {}
    if hw.get("gpus"):
        refuse(
            f"hardware.gpus={hw['gpus']} picks GPUs by index, but under Slurm the scheduler picks them: "
            "set hardware.gpu_count instead."
        )
    # On a login node the job's device cannot be detected: `auto` asks for GPUs like `cuda`.
    device = str(hw.get("device", "auto"))
    gpus = job_gpu_count(job, "cpu" if device == "cpu" else "cuda")
    return {"gpus_per_node": gpus or None, "cpus_per_task": hw.get("cpus_per_task"), "mem_gb": hw.get("mem_gb")}


class SequentialLocalLauncher(_LlemSubmitit, _SubmititLocal):
    _EXECUTOR = "local"
    _LLEM_KEYS = ("parallel",)

    def job_resources(self, job: dict) -> dict:
        return local_resources(job)

    def batches(self, jobs: list[dict]) -> list[list[int]]:
        if not self.llem_options.get("parallel"):  # one at a time: a batch per engine group, waited for
            return self.units(jobs, list(range(len(jobs))))
        check_disjoint(jobs)
        return [list(range(len(jobs)))] if jobs else []

    def units(self, jobs: list[dict], batch: list[int]) -> list[list[int]]:
        if self.llem_options.get("parallel"):  # every job its own process, all at once
            return [[i] for i in batch]
        return super().units(jobs, batch)

    def wait_each_batch(self) -> bool:
        return True


def check_disjoint(jobs: list[dict]) -> None:
    """Parallel local jobs must each own their devices, or their energy numbers mix."""
    from llem.energy import faking_gpu

    owner: dict[int, int] = {}
    for n, job in enumerate(jobs):
        hw = job.get("hardware") or {}
        # tests only: under a replayed NVML trace the jobs' listed GPUs are fake ones (llem/testing/fake_nvml.py)
        if (resolved_device(job) != "cuda" and not faking_gpu()) or not hw.get("gpus"):
            refuse(
                f"hydra.launcher.parallel=true runs jobs at the same time, but job #{n} (hardware={hw.get('name')}) "
                "does not own a list of GPUs: give every job its own hardware.gpus=[...] (disjoint lists), "
                "or leave parallel=false; jobs on a CPU always share it."
            )
        for g in hw["gpus"]:
            if g in owner:
                refuse(
                    f"hydra.launcher.parallel=true: jobs #{owner[g]} and #{n} both use GPU {g}; "
                    "give each job a disjoint hardware.gpus list, or leave parallel=false."
                )
            owner[g] = n


class LlemSlurmLauncher(_LlemSubmitit, _SubmititSlurm):
    _EXECUTOR = "slurm"
    _LLEM_KEYS = ("gone_grace_s",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.gone_grace_s()  # a bad value is refused before anything is submitted

    def gone_grace_s(self) -> float:
        """hydra.launcher.gone_grace_s: how long a job squeue no longer lists may take to leave its result
        (clusters without accounting, _slurm_watch.py)."""
        value = self.llem_options.get("gone_grace_s", GRACE_S)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            refuse(
                f"hydra.launcher.gone_grace_s={value!r} is not a number of seconds: give one of 0 or more "
                f"(default {GRACE_S:g}), how long a Slurm job squeue no longer lists may take to leave its result."
            )
        return float(value)

    def job_resources(self, job: dict) -> dict:
        return slurm_resources(job)

    def batches(self, jobs: list[dict]) -> list[list[int]]:
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(tuple(sorted(self.job_resources(job).items())), []).append(i)
        return list(groups.values())

    def wait_each_batch(self) -> bool:
        # One job at a time across the sweep: the next array starts when this one is done.
        return int(self.params.get("array_parallelism") or 0) == 1  # type: ignore[attr-defined]


def _register_one_at_a_time_submitit_local() -> None:
    """`hydra/launcher=submitit_local` means llem's one-job-at-a-time launcher: the plugin's own would
    run every job of a sweep at once on the same device. Stored over the plugin's entry (imported
    above, so this runs after it); `hydra/launcher=local` is the same launcher with `parallel`."""
    try:
        from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf
    except ImportError:
        return
    import dataclasses

    from hydra.core.config_store import ConfigStore

    node = dataclasses.asdict(LocalQueueConf())
    node["_target_"] = f"{__name__}.SequentialLocalLauncher"
    ConfigStore.instance().store(group="hydra/launcher", name="submitit_local", node=node, provider="llem")


_register_one_at_a_time_submitit_local()

__all__ = ["SequentialLocalLauncher", "LlemSlurmLauncher"]
