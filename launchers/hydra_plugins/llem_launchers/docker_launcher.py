"""`hydra/launcher=docker`: jobs run in their engine's image (llem/<engine>:<llem version>, or
llem/cpu:<version> for CPU jobs), one at a time, with `--network none` unless the config says
otherwise. The jobs of one engine configuration share one container, one after another, so the
engine is loaded once for them (run.reuse_engine; false: a container per job). Containers never share a process, so engines that must not meet (TensorRT-LLM and
PyTorch/vLLM) never do.

Before any job runs, every image the sweep needs is checked: a missing one names its build
command; one whose llem version or config schema differs from the host's is refused. Each job's
resolved config goes in as a JSON file in its job directory; the container writes the result
where a local run would (same absolute paths) and its outcome next to the job file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher

from llem.host.interrupt import Interrupted
from llem.sweep.ledger import outcome_from

from . import _docker_argv as argvs
from ._common import (
    caught_finished,
    failed_outcome,
    isolation_note,
    log,
    not_started_outcomes,
    outcomes_in,
    plot_before_upload,
    refuse,
    resolved_device,
    task_config,
)
from ._docker_stop import killed_on_forced_exit, stop_and_drain
from ._pending import ComposedLauncher, pending_jobs
from ._stopping import not_started

_PROBE = (
    "import json, importlib.util, llem, llem.config.spec; print(json.dumps({'llem_version': llem.__version__, "
    "'schema_version': llem.config.spec.SCHEMA_VERSION, 'job_entry': importlib.util.find_spec('%s') is not None}))"
    % argvs.JOB_MODULE
)


class DockerLauncher(ComposedLauncher, Launcher):
    def __init__(self, **params: Any) -> None:
        from omegaconf import OmegaConf

        plain = {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in params.items()}
        try:
            self.opts = argvs.DockerOptions(**plain)
        except TypeError as exc:
            refuse(
                f"hydra.launcher has a setting the Docker launcher does not know ({exc}); see conf/hydra/launcher/docker.yaml."
            )
        self.config = None
        self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context = hydra_context
        self.config = config

    def _host_versions(self) -> dict:
        import llem
        from llem.config.spec import SCHEMA_VERSION

        return {"llem_version": llem.__version__, "schema_version": SCHEMA_VERSION}

    def _docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([self.opts.docker, *args], capture_output=True, text=True, timeout=timeout)

    def _check_daemon(self) -> None:
        try:
            res = self._docker("version", "--format", "{{.Server.Version}}", timeout=30)
        except FileNotFoundError:
            refuse(
                f"hydra/launcher=docker needs the docker CLI, and '{self.opts.docker}' is not on PATH: install Docker "
                "or set hydra.launcher.docker=/path/to/docker."
            )
        except subprocess.TimeoutExpired:
            res = None
        if res is None or res.returncode != 0:
            where = os.environ.get("DOCKER_HOST", "the default socket")
            refuse(f"the Docker daemon is not answering at {where}: start dockerd or set DOCKER_HOST.")

    def _check_image(self, image: str) -> None:
        host, build = self._host_versions(), argvs.build_command(image, self.opts, self._host_versions()["llem_version"])
        if self._docker("image", "inspect", "--format", "{{.Id}}", image).returncode != 0:
            refuse(f"image {image} is not built: build it with: {build}")
        res = self._docker("run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", _PROBE, timeout=300)
        try:
            found = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            refuse(
                f"image {image} has no usable llem (python -c 'import llem' failed: "
                f"{(res.stderr.strip().splitlines() or ['no output'])[-1]}): rebuild it with: {build}"
            )
        if (found["llem_version"], found["schema_version"]) != (host["llem_version"], host["schema_version"]) or not found[
            "job_entry"
        ]:
            refuse(argvs.mismatch_message(image, found, host, build))

    def launch_points(self, points, initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        left = pending_jobs(self.hydra_context, self.config, points, initial_job_idx)
        results, todo = left.returns, left.todo
        job_overrides = [p.overrides for p in points]
        if not todo:  # no daemon or image needed: nothing is started
            log.info("llem docker launcher: every job has a complete result on disk; no container started")
            return results  # type: ignore[return-value]
        jobs = {i: left.jobs[i] for i in todo}
        configs = left.configs
        devices = {i: resolved_device(jobs[i]) for i in todo}
        version = self._host_versions()["llem_version"]
        images = {i: argvs.image_for(jobs[i], devices[i], self.opts, version) for i in todo}
        note = isolation_note(list(jobs.values()), "in its own container")
        if note:
            log.info(note)
        self._check_daemon()
        for image in dict.fromkeys(images.values()):
            self._check_image(image)
        units = [[todo[k] for k in unit] for unit in self._units(list(jobs.values()))]
        log.info(
            f"llem docker launcher: {len(todo)} job(s) in {len(units)} container(s), one at a time, network {self.opts.network}"
        )
        from llem.host.progress import SweepProgress

        progress = SweepProgress(len(todo), quiet=all((j.get("run") or {}).get("quiet") for j in jobs.values()))
        try:
            for unit in units:
                progress.start(len(unit))
                for i in unit:
                    log.info(f"\t#{initial_job_idx + i} : {' '.join(job_overrides[i])} [{images[i]}]")
                rets, stopped = self._run_unit(
                    [initial_job_idx + i for i in unit],
                    [job_overrides[i] for i in unit],
                    [configs[i] for i in unit],
                    [jobs[i] for i in unit],
                    devices[unit[0]],
                    images[unit[0]],
                )
                for i, ret in zip(unit, rets):
                    results[i] = ret
                if stopped is not None:
                    raise stopped
        except Interrupted as stopped:  # the running container was stopped and its outcomes read (_docker_stop.py)
            stopped.outcomes = outcomes_in(results) + not_started_outcomes(
                [configs[i] for i, ret in enumerate(results) if ret is None]
            )
            raise
        return results  # type: ignore[return-value]

    @staticmethod
    def _units(jobs: list[dict]) -> list[list[int]]:
        """One container per engine configuration (same backend settings, model, hardware, mode: same
        image and GPUs), whose jobs share one engine load (run.reuse_engine); else one per job."""
        from llem.config.grouping import engine_groups

        if not all((job.get("run") or {}).get("reuse_engine", True) for job in jobs):
            return [[i] for i in range(len(jobs))]
        return engine_groups(jobs)

    def _write_job_files(self, job_dir: Path, sweep_config, overrides: Sequence[str], payload: dict) -> None:
        from omegaconf import OmegaConf

        from llem.paths import HYDRA_JOB_CONFIG

        meta = (job_dir / HYDRA_JOB_CONFIG).parent
        meta.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(task_config(sweep_config), job_dir / HYDRA_JOB_CONFIG)
        OmegaConf.save(OmegaConf.create({"hydra": sweep_config.hydra}), meta / "hydra.yaml")
        OmegaConf.save(OmegaConf.create(list(overrides)), meta / "overrides.yaml")
        tmp = job_dir / (argvs.JOB_FILE + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, job_dir / argvs.JOB_FILE)
        (job_dir / argvs.OUTCOME_FILE).unlink(missing_ok=True)

    def _run_unit(
        self, idxs: list[int], overrides: list, sweep_configs: list, jobs: list[dict], device: str, image: str
    ) -> tuple[list[JobReturn], Optional[Interrupted]]:
        """Run these jobs (one engine configuration) in one container, one after another; also the
        signal that stopped this process meanwhile (the container was stopped; its outcomes are in)."""
        from llem.paths import DOCKER_LOG, cache_dir

        cwd = Path.cwd()
        job_dirs = [(cwd / str(c.hydra.sweep.dir) / str(c.hydra.sweep.subdir)).resolve() for c in sweep_configs]
        gpus = argvs.host_gpus(jobs[0], device) if self.opts.gpus != "none" else []
        hosts = self._host_versions()
        for job_dir, sweep_config, over, job in zip(job_dirs, sweep_configs, overrides, jobs):
            payload = {
                "config": job,
                "renumber_gpus": bool(gpus and (job.get("hardware") or {}).get("gpus")),
                "host": {**hosts, "image": image, "build_command": argvs.build_command(image, self.opts, hosts["llem_version"])},
            }
            self._write_job_files(job_dir, sweep_config, over, payload)
        cache = cache_dir() if self.opts.mount_cache else None
        name = f"llem-{os.getpid()}-{idxs[0]}"
        environ = dict(os.environ)
        revision = self._git_revision()
        if revision and "LLEM_GIT_REVISION" not in environ:  # the image's llem is a wheel, not a checkout
            environ["LLEM_GIT_REVISION"] = revision
        # The container has no network and no view of the host's tracking store: the job marks its
        # run unsynced and the sweep's end, on the host, uploads it (llem.tracking.DEFER_ENV).
        environ.setdefault("LLEM_TRACKING_DEFER", "1")
        argv = argvs.run_argv(
            image=image, name=name, jobs=jobs, job_dirs=job_dirs, cwd=cwd, gpus=gpus, opts=self.opts, environ=environ, cache=cache
        )
        quiet = all(bool((job.get("run") or {}).get("quiet")) for job in jobs)
        log_path = job_dirs[0] / DOCKER_LOG
        stopped = None
        try:
            code = self._stream(argv, name, log_path, quiet, environ)
        except Interrupted as exc:
            stopped, code = exc, None
        rets = []
        for k, (idx, job_dir, over, sweep_config, job) in enumerate(zip(idxs, job_dirs, overrides, sweep_configs, jobs)):
            if k:  # the container's output is in the first job's folder
                (job_dir / DOCKER_LOG).write_text(f"job #{idx} ran in the container of job #{idxs[0]}: see {log_path}\n")
            outcome = self._read_outcome(job_dir)
            if outcome is None and stopped is not None:  # its result complete on disk, or stopped before it began
                caught = caught_finished(job, job_dir.name)
                outcome = vars(caught) if caught is not None else not_started(job_dir.name)
            if outcome is None:
                outcome = failed_outcome(
                    f"the container of job #{idx} exited with code {code} before reporting an "
                    f"outcome for it (its output: {log_path})"
                )
                outcome["job"] = job_dir.name
                log.error(outcome["message"])
            plot_before_upload(job, outcome)
            rets.append(
                JobReturn(
                    overrides=list(over),
                    cfg=None,
                    hydra_cfg=sweep_config,
                    working_dir=str(job_dir),
                    task_name=str(sweep_config.hydra.job.name),
                    status=JobStatus.COMPLETED,
                    _return_value=outcome_from(outcome),
                )
            )
        return rets, stopped

    def _git_revision(self) -> Optional[str]:
        if not hasattr(self, "_revision"):
            from llem.run.envinfo import git_revision

            self._revision = git_revision()
        return self._revision

    @staticmethod
    def _read_outcome(job_dir: Path) -> Optional[dict]:
        try:
            return json.loads((job_dir / argvs.OUTCOME_FILE).read_text())
        except (OSError, ValueError):
            return None

    def _stream(self, argv: list[str], name: str, log_path: Path, quiet: bool, environ: dict) -> int:
        """Run the container, copy its output to docker.log (and the console unless quiet). The docker
        CLI gets the job's environment: secrets are passed by name and docker reads them from it.
        A signal to this process stops the container (docker stop) and waits for it, then goes on up."""
        with (
            open(log_path, "w") as sink,
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=environ) as proc,
        ):

            def copy(line: str) -> None:
                sink.write(line)
                sink.flush()  # docker.log follows the job as it runs (tail -f)
                if not quiet:
                    sys.stdout.write(line)
                    sys.stdout.flush()

            with killed_on_forced_exit(self.opts.docker, name):
                try:
                    assert proc.stdout is not None
                    for line in proc.stdout:
                        copy(line)
                    return proc.wait()
                except KeyboardInterrupt:  # llem's Interrupted, or Python's own where llem's handler is not installed
                    stop_and_drain(self.opts.docker, name, proc, copy, self.opts.stop_timeout_s)
                    raise
