"""Stopping a sweep from outside, as a cluster or a container runtime does, on the real services
(.ci/services.d/): `scancel` of the running job on the one-node Slurm, and `docker stop` of the
running container; a signal to the launching llem stops its container. Each checks the run dir's
record, the sweep summary and exit code, that no process of the job is left and that the same
command again measures only what is missing (llem/host/interrupt.py, docs/launchers.md)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

from faults_helpers import complete_result, no_traceback  # noqa: E402
from interrupt_helpers import Llem, assert_nothing_left, interrupted_record, set_summary_aside, sweep_summary  # noqa: E402
from launcher_helpers import docker, dockerd, slurm  # noqa: E402,F401  (fixtures)

pytestmark = pytest.mark.slow

# Three points of one engine configuration (one Slurm job, one container), windows of >= 1 s.
POINTS = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=2",
    "workload.output_tokens=16",
    "energy.baseline_s=0",
    "run.min_window_s=1",
    "run.output_root=out",
    "workload.batch_size=1,2,4",
    "run.repeats=3",
    "run.warmup=0",
]
STOPPED = "1 measured, 0 skipped (complete result already on disk), 0 failed, 1 interrupted, 1 not started"


def in_second_job_window(root: Path, logs: str) -> bool:
    """The second point has begun its second window (its output is in the job's log files)."""
    return any(p.read_text(errors="replace").count("measuring window 2/3") >= 2 for p in root.glob(logs))


def assert_stopped(
    run: Llem, root: Path, rc: int, code: int, others: set[int] = frozenset(), signals: tuple[str, ...] = ("SIGTERM",)
) -> tuple[Path, float]:
    """The sweep's summary and records after the stop: the stopped job's run dir and when it recorded itself."""
    out = run.output
    assert rc == code and no_traceback(out), out[-3000:]
    assert STOPPED in out, out[-3000:]
    jobs = sweep_summary(root)
    assert [j["status"] for j in jobs] == ["measured", "interrupted", "not_started"], jobs
    complete_result(Path(jobs[0]["run_dir"]))
    stopped = Path(jobs[1]["run_dir"])
    record = interrupted_record(stopped)
    assert record["interrupted"]["signal"] in signals, record["interrupted"]
    assert record["interrupted"]["stage"].startswith(("measuring window 2/3", "measuring window 3/3"))
    assert_nothing_left(run, root, others)
    return stopped, (stopped / "interrupted.json").stat().st_mtime


def assert_resumes(run: Llem, root: Path, stopped: Path) -> None:
    """The same command again measures the interrupted and the not-started points, and skips the first."""
    set_summary_aside(root)
    again = Llem(run.args, run.cwd, run.env)
    assert again.finish(timeout=600) == 0, again.output[-3000:]
    assert [j["status"] for j in sweep_summary(root)] == ["skipped", "measured", "measured"], again.output[-3000:]
    assert len(complete_result(stopped)["windows"]) == 3 and not (stopped / "interrupted.json").exists()


def slurm_job(env: dict, name: str, timeout: float = 120) -> tuple[str, str]:
    """(array job id, its own job id) of the running Slurm job named `name`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["squeue", "-h", "--name", name, "-t", "RUNNING", "-o", "%i %A"], env=env, capture_output=True, text=True, timeout=30
        ).stdout.split()
        if out:
            return out[0], out[1]
        time.sleep(0.2)
    raise AssertionError(f"no Slurm job {name} running after {timeout} s")


def job_pids(env: dict, raw_id: str) -> set[int]:
    """Every process of a Slurm job (its step daemons excepted): submitit's task, llem's worker, the sampler."""
    listed = subprocess.run(["scontrol", "listpids", raw_id], env=env, capture_output=True, text=True, timeout=30)
    return {int(line.split()[0]) for line in listed.stdout.splitlines()[1:] if line.split() and line.split()[0].isdigit()}


def kill_wait_s(env: dict) -> float:
    config = subprocess.run(["scontrol", "show", "config"], env=env, capture_output=True, text=True, timeout=30).stdout
    (line,) = [x for x in config.splitlines() if x.split("=")[0].strip() == "KillWait"]
    return float(line.split("=")[1].split()[0])


def test_scancel_during_a_window_records_the_job_and_the_rerun_measures_the_rest(tmp_path, slurm):
    name = f"llem-stop-{secrets.token_hex(3)}"  # this test's Slurm jobs only
    env = {k: v for k, v in slurm.items() if k.startswith("SLURM")}
    run = Llem(["--multirun", "hydra/launcher=slurm", f"hydra.launcher.name={name}", *POINTS], tmp_path, env)
    root = tmp_path / "out"
    try:
        run.wait_for(
            lambda: in_second_job_window(root, "hydra/sweeps/*/.submitit/*/*_log.*"), "the second point reached its second window"
        )
        array_id, raw_id = slurm_job(slurm, name)
        pids = job_pids(slurm, raw_id)
        cancelled = time.time()
        subprocess.run(["scancel", array_id], env=slurm, check=True, timeout=30)  # SIGTERM; SIGKILL after KillWait
        rc = run.finish(timeout=300)
    finally:  # a failed test leaves nothing of its own running
        subprocess.run(["scancel", "--name", name], env=slurm, timeout=30)
        if run.proc.poll() is None:
            run.proc.kill()
    assert len(pids) >= 3, pids  # submitit's task, llem's worker and the sampler at least
    logs = "".join(p.read_text(errors="replace") for p in root.glob("hydra/sweeps/*/.submitit/*/*_log.*"))
    assert no_traceback(logs), logs[-3000:]
    # The launching llem was not signalled itself: a sweep left incomplete exits 1 (docs/launchers.md).
    stopped, recorded = assert_stopped(run, root, rc, 1, pids)
    # The job recorded itself after Slurm's SIGTERM, well before its SIGKILL (KillWait after it).
    assert recorded - cancelled < kill_wait_s(slurm), f"recorded {recorded - cancelled:.1f} s after scancel"
    assert_resumes(run, root, stopped)


def test_sigterm_to_the_launching_llem_cancels_its_slurm_job(tmp_path, slurm):
    name = f"llem-stop-{secrets.token_hex(3)}"
    env = {k: v for k, v in slurm.items() if k.startswith("SLURM")}
    run = Llem(["--multirun", "hydra/launcher=slurm", f"hydra.launcher.name={name}", *POINTS], tmp_path, env)
    root = tmp_path / "out"
    try:
        run.wait_for(
            lambda: in_second_job_window(root, "hydra/sweeps/*/.submitit/*/*_log.*"), "the second point reached its second window"
        )
        pids = job_pids(slurm, slurm_job(slurm, name)[1])
        os.kill(run.proc.pid, signal.SIGTERM)  # as `kill PID` would: llem cancels its running job (scancel)
        rc = run.finish(timeout=300)
        # (a job whose processes have ended may show as COMPLETING a moment longer: its epilog)
        listed = subprocess.run(
            ["squeue", "-h", "--name", name, "-t", "PENDING,RUNNING,SUSPENDED"],
            env=slurm,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        subprocess.run(["scancel", "--name", name], env=slurm, timeout=30)
        if run.proc.poll() is None:
            run.proc.kill()
    assert not listed.stdout.strip(), f"the Slurm job outlived the sweep: {listed.stdout}"
    assert_stopped(run, root, rc, 143, pids)


class Container:
    """The container of the sweep's one engine configuration (docker_launcher.py names it llem-<pid>-0)."""

    def __init__(self, env: dict, run: Llem):
        self.env, self.name = env, f"llem-{run.proc.pid}-0"

    def docker(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=120)

    def pids(self) -> set[int]:
        """Host pids of its processes: docker's init, llem, its measurement worker, the sampler."""
        out = self.docker("top", self.name, "-eo", "pid").stdout.split()
        return {int(x) for x in out if x.isdigit()}

    def gone(self) -> bool:
        return not self.docker("ps", "-a", "-q", "--filter", f"name=^/{self.name}$").stdout.strip()

    def running(self) -> bool:
        return bool(self.docker("ps", "-q", "--filter", f"name=^/{self.name}$").stdout.strip())


def docker_sweep(tmp_path: Path, docker: dict) -> tuple[Llem, Container, set[int]]:
    """The sweep through the Docker launcher, once its second point is in its second window."""
    run = Llem(["--multirun", "hydra/launcher=docker", *POINTS], tmp_path, {"DOCKER_HOST": docker["DOCKER_HOST"]})
    container = Container(docker, run)
    try:
        run.wait_for(lambda: run.printed("measuring window 2/3", times=2), "the second point reached its second window")
        pids = container.pids()
    except BaseException:
        run.proc.kill()
        container.docker("kill", container.name)
        raise
    assert len(pids) >= 4, pids
    return run, container, pids


def test_docker_stop_of_the_container_records_the_job_and_the_rerun_measures_the_rest(tmp_path, docker):
    run, container, pids = docker_sweep(tmp_path, docker)
    stop = container.docker("stop", container.name)  # SIGTERM to its init; SIGKILL after its --stop-timeout (30 s)
    rc = run.finish(timeout=300)
    assert stop.returncode == 0, stop.stderr
    assert container.gone()
    # The launching llem was not signalled itself: a sweep left incomplete exits 1 (docs/launchers.md).
    stopped, _ = assert_stopped(run, tmp_path / "out", rc, 1, pids)
    assert "exited with code" not in run.output  # every job reported its outcome
    assert_resumes(run, tmp_path / "out", stopped)


@pytest.mark.parametrize(
    "to, sig, code",
    [("group", signal.SIGINT, 130), ("llem", signal.SIGTERM, 143)],
    ids=["SIGINT-to-group", "SIGTERM-to-llem-only"],
)
def test_signal_to_the_launching_llem_docker_stops_its_container(tmp_path, docker, to, sig, code):
    run, container, pids = docker_sweep(tmp_path, docker)
    if to == "group":  # a terminal's Ctrl-C: llem and the docker CLI (which passes it to the container) get it
        run.signal_group(sig)
    else:  # as `kill PID` or systemd would: llem passes it on with docker stop
        os.kill(run.proc.pid, sig)
    rc = run.finish(timeout=300)
    assert container.gone(), "the container outlived the sweep"
    # Ctrl-C: the container gets SIGINT from the docker CLI and SIGTERM from llem's docker stop; the first counts.
    assert_stopped(run, tmp_path / "out", rc, code, pids, signals=("SIGINT", "SIGTERM") if to == "group" else ("SIGTERM",))


def test_second_ctrl_c_kills_the_container_and_exits_at_once(tmp_path, docker):
    run, container, pids = docker_sweep(tmp_path, docker)
    run.signal_group(signal.SIGINT)
    run.wait_for(lambda: run.printed("SIGINT received: stopping"), "the first Ctrl-C was taken", timeout=10)
    run.signal_group(signal.SIGINT)  # the second, while the container's llem cleans up (if it has not finished)
    rc = run.finish(timeout=60)
    forced = "SIGINT again: exiting at once" in run.output  # else the first stop had already ended it
    assert not (forced and container.running()), "llem exited at once, leaving its container running"
    assert rc == 130 and no_traceback(run.output), run.output[-3000:]
    deadline = time.monotonic() + 20  # docker kill has returned; --rm removes the container a moment later
    while not container.gone():
        assert time.monotonic() < deadline, "the container outlived the forced exit"
        time.sleep(0.2)
    assert_nothing_left(run, tmp_path / "out", pids)
    assert not list((tmp_path / "out").glob("runs/*bs2*/result.json"))  # whatever it had, never a complete result
