"""What is checked before a job starts: its composed config as plain data, the JobSpec built from it,
and what a job launched on this machine needs from it. llem's sweeper runs this on every point of a
sweep before the first job, llem's callback on a single run before Hydra makes its run dir, and the
job itself again (llem.cli.app). Each failure is a UserError: one sentence, exit code 2."""

from __future__ import annotations

import os
import socket
from typing import Optional
from urllib.parse import urlparse

from llem.config.spec import JobSpec, build_spec
from llem.errors import UserError
from llem.host.devices import visible_gpu_count
from llem.models.config_json import model_config
from llem.workload.server_checks import check_applied

# Launchers whose jobs run on other machines (a Slurm node; a login node may have no GPU): their
# jobs check the device where they run (llem.config.checks.device_for_job). Every other launcher, and a
# single run, runs its jobs here.
REMOTE_LAUNCHERS = ("slurm", "Slurm")


def launches_here(launcher_target: str) -> bool:
    return not any(word in launcher_target for word in REMOTE_LAUNCHERS)


def plain_config(cfg, leave_out: Optional[str] = None) -> dict:
    """Hydra's composed config as a plain dict (without its `leave_out` node: "hydra", parts of which
    are unset until a job runs), with one-sentence errors for unset or broken values."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

    def plain(value):
        return OmegaConf.to_container(value, resolve=True, throw_on_missing=True) if OmegaConf.is_config(value) else value

    try:
        if leave_out is None:
            return plain(cfg)
        return {key: plain(cfg[key]) for key in cfg if key != leave_out}  # resolved against the whole config
    except MissingMandatoryValue as exc:
        key = getattr(exc, "full_key", None) or "a setting"
        raise UserError(f"{key} has no value (it is marked ???): set it on the command line, e.g. {key}=<value>.") from None
    except InterpolationResolutionError as exc:
        raise UserError(f"{getattr(exc, 'full_key', 'a setting')} could not be resolved: {str(exc).splitlines()[0]}.") from None


def check_job(job: dict, here: bool, single: bool = False) -> JobSpec:
    """A job's plain config as a validated JobSpec; `here`: the job runs on this machine, which must
    then have what it needs (check_launch_here); `single`: a run of one job, where a server-only setting
    of an offline job is refused (a sweep checks its points together: llem.sweep.points)."""
    spec = build_spec(job)
    if single:
        check_applied([spec], sweep=False)
    if here:
        check_launch_here(spec)
    return spec


def check_launch_here(spec) -> None:
    """What a job launched on this machine needs from it, checked before launch (a Slurm job runs on
    another node: it checks there, llem.config.checks.device_for_job): a GPU for a CUDA job, and a hub model
    that is in the local cache or downloadable (not 49 s of retries per sweep point)."""
    if spec.hardware.device == "cuda" and visible_gpu_count() == 0:
        raise UserError(
            f"hardware={spec.hardware.name} asks for a CUDA GPU but none is visible on this machine: "
            f"use hardware=cpu or hardware=auto, or run on a GPU node (a Slurm launcher checks on the job's node)."
        )
    _check_hub_model(spec.model)


_HUB_PROBE_S = 3.0


def _check_hub_model(model) -> None:
    if model.source != "hub" or model.weights == "random" or model_config(model)[0] is not None:
        return  # not a download, or its config.json is in the Hugging Face cache
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise UserError(
            f"model.id={model.id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: download "
            f"it first (huggingface-cli download {model.id}), unset HF_HUB_OFFLINE, or give a local folder "
            f"with model.source=path."
        )
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    url = urlparse(endpoint)
    try:
        socket.create_connection(
            (url.hostname or "", url.port or (443 if url.scheme == "https" else 80)), timeout=_HUB_PROBE_S
        ).close()
    except OSError as exc:
        raise UserError(
            f"model.id={model.id} is not in the local Hugging Face cache and {endpoint} cannot be reached "
            f"({exc.strerror or exc}): connect this machine to the network, copy a Hugging Face cache "
            f"(HF_HOME) that holds it, or give a local folder with model.source=path."
        ) from None
