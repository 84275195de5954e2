"""The `docker run` argument list for one job: image, GPUs, mounts, environment, network.

Pure functions over plain data, so they are tested without a daemon. Paths are mounted at the
same absolute path inside the container and the container starts in the host's working
directory, so the job's config (relative output root and input files included) means the same
thing inside as outside, and its result records the same paths as a local run.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from llem.host.visible_devices import LAUNCH_ENV
from llem.registry import engines

from ._docker_stop import STOP_TIMEOUT_S, stop_args


def image_dirs() -> dict[str, str]:
    """docker/<dir>/Dockerfile of each engine, by its name and aliases (Engine.image, Engine.aliases);
    names not listed use the backend name itself."""
    out = {}
    for name, e in engines().items():
        for key in (name, *e.aliases):
            out[key] = e.image or name
    return out


JOB_FILE = "llem-job.json"
OUTCOME_FILE = "llem-outcome.json"
JOB_MODULE = "hydra_plugins.llem_launchers._docker_job"


@dataclass
class DockerOptions:
    """hydra.launcher.* of conf/hydra/launcher/docker.yaml, as plain data."""

    image: Optional[str] = None  # one image for every job; None: llem/<cpu|engine>:<llem version>
    repository: str = "llem"
    network: str = "none"
    gpus: str = "auto"  # auto: the job's GPUs as device requests; none: no GPUs
    docker: str = "docker"
    env: dict = field(default_factory=dict)
    pass_env: list = field(default_factory=lambda: ["LLEM_*", "MLFLOW_*", "HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
    mounts: list = field(default_factory=list)
    mount_cache: bool = True
    shm_size: Optional[str] = "8g"
    user: str = "host"  # host: the invoking user's uid:gid; root; or an explicit "uid:gid"
    extra_args: list = field(default_factory=list)
    init: bool = True  # docker's init (tini) as PID 1 (_docker_stop.py)
    stop_timeout_s: int = STOP_TIMEOUT_S  # after `docker stop`, before docker's SIGKILL


def image_dir(job: dict, device: str) -> str:
    """The docker/<dir> whose image runs this job: the CPU image on CPU, else the engine's own."""
    if device == "cpu":
        return "cpu"
    name = str((job.get("backend") or {}).get("name"))
    return image_dirs().get(name, name)


def image_for(job: dict, device: str, opts: DockerOptions, version: str) -> str:
    return opts.image or f"{opts.repository}/{image_dir(job, device)}:{version}"


def build_command(image: str, opts: DockerOptions, version: str) -> str:
    for name in ("cpu", *sorted(set(image_dirs().values()))):
        if image == f"{opts.repository}/{name}:{version}":
            return f"bash docker/build.sh {name}"
    return f"docker build -t {image} -f docker/<engine>/Dockerfile ."


def host_gpus(job: dict, device: str) -> list[str]:
    """Host GPU ids for the device request: hardware.gpus (or the first gpu_count), seen through
    the host's CUDA_VISIBLE_DEVICES when that is set."""
    if device == "cpu":
        return []
    hw = job.get("hardware") or {}
    picked = list(hw["gpus"]) if hw.get("gpus") else list(range(int(hw.get("gpu_count") or 1)))
    visible = [x.strip() for x in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if x.strip()]
    if visible:
        return [visible[i] if i < len(visible) else str(i) for i in picked]
    return [str(i) for i in picked]


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def job_mounts(job: dict, job_dir: Path, cwd: Path, cache: Optional[Path]) -> list[str]:
    """Volumes: the output root and job dir read-write; input files and model folders read-only."""
    out_root = (cwd / str((job.get("run") or {}).get("output_root", "outputs"))).resolve()
    rw = [out_root]
    if not _under(job_dir.resolve(), rw):
        rw.append(job_dir.resolve())
    if cache is not None:
        rw.append(cache.resolve())
    ro: list[Path] = []
    model, workload = job.get("model") or {}, job.get("workload") or {}
    inputs = [workload.get("path")]
    if model.get("source") == "path":
        inputs.append(model.get("id"))
    if model.get("gguf") not in (None, "builtin"):
        inputs.append(model.get("gguf"))
    for p in inputs:
        if p:
            path = (cwd / Path(str(p)).expanduser()).resolve()
            if path.exists() and not _under(path, rw + ro):
                ro.append(path)
    return [f"{p}:{p}" for p in rw] + [f"{p}:{p}:ro" for p in ro]


def job_env(opts: DockerOptions, environ: dict, cache: Optional[Path], gpus: list[str]) -> dict:
    env = {k: v for k, v in environ.items() if any(fnmatch.fnmatchcase(k, pat) for pat in opts.pass_env)}
    if cache is not None:
        env["LLEM_CACHE_DIR"] = str(cache)
    if opts.network == "none":  # the hub cannot be reached: fail fast instead of retrying
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
    if gpus:
        env["LLEM_HOST_GPUS"] = ",".join(gpus)
    # Inside, the container's GPUs are the job's, numbered from 0, and hardware.gpus is renumbered to
    # match: the host's CUDA_VISIBLE_DEVICES (llem/host/visible_devices.py) must not be counted in again.
    env.pop(LAUNCH_ENV, None)
    env["HOME"] = "/tmp"  # writable for any --user
    env.update({str(k): str(v) for k, v in (opts.env or {}).items()})
    return env


SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY")


def is_secret_name(name: str) -> bool:
    """HF_TOKEN, MLFLOW_TRACKING_PASSWORD, *_KEY and the like: passed to a container by name only."""
    upper = name.upper()
    return upper.endswith("_KEY") or any(part in upper for part in SECRET_NAME_PARTS)


def user_arg(opts: DockerOptions) -> Optional[str]:
    if opts.user == "host":
        return f"{os.getuid()}:{os.getgid()}"
    if opts.user == "root":
        return None
    return opts.user


def run_argv(
    *,
    image: str,
    name: str,
    jobs: list[dict],
    job_dirs: list[Path],
    cwd: Path,
    gpus: list[str],
    opts: DockerOptions,
    environ: dict,
    cache: Optional[Path],
) -> list[str]:
    """`docker run` for one container that runs these jobs (one engine configuration) in order."""
    argv = [
        opts.docker,
        "run",
        "--rm",
        "--name",
        name,
        "--network",
        opts.network,
        "--workdir",
        str(cwd),
        *stop_args(opts.init, opts.stop_timeout_s),
    ]
    user = user_arg(opts)
    if user:
        argv += ["--user", user]
    if gpus and opts.gpus != "none":
        # Quoted: the CLI reads the value as CSV and the ids themselves are comma-separated.
        argv += ["--gpus", f'"device={",".join(gpus)}"']
    if opts.shm_size:
        argv += ["--shm-size", str(opts.shm_size)]
    volumes = [v for job, job_dir in zip(jobs, job_dirs) for v in job_mounts(job, job_dir, cwd, cache)]
    for vol in dict.fromkeys(volumes + [str(m) for m in opts.mounts]):
        argv += ["--volume", vol]
    for key, value in sorted(job_env(opts, environ, cache, gpus).items()):
        # A secret's value never goes on the command line (ps, /proc/<pid>/cmdline, logs): `--env NAME`
        # makes docker read it from its own environment, which the launcher's child inherits.
        by_name = is_secret_name(key) and environ.get(key) == value
        argv += ["--env", key if by_name else f"{key}={value}"]
    argv += [str(a) for a in opts.extra_args]
    return argv + [image, "python", "-m", JOB_MODULE, *(str(d.resolve() / JOB_FILE) for d in job_dirs)]


def mismatch_message(image: str, image_versions: dict, host_versions: dict, build: str) -> str:
    return (
        f"image {image} has llem {image_versions.get('llem_version')} (config schema "
        f"{image_versions.get('schema_version')}) but this host runs llem {host_versions['llem_version']} "
        f"(config schema {host_versions['schema_version']}): rebuild the image with: {build}"
    )
