"""NVLink multicast (NVLS) off for every engine process of a job that spans GPUs.

NCCL, PyTorch's symmetric memory and NVSHMEM use NVLink SHARP multicast on NVSwitch systems when
they find it. llem turns it off: a multicast object is shared state of the whole NVSwitch fabric
(one misbehaving program can leave a host's GPUs, which others share, unusable until a reset), and
whether NCCL takes NVLS changes the all-reduce algorithm, so a tensor-parallel job measured on
two hosts would otherwise differ by a setting no result records. Set, like the
telemetry opt-outs (llem/host/telemetry.py), with setdefault semantics: a variable the user exported is
left as it is, so a user who wants to measure NVLS turns it on explicitly. Documented in
docs/energy.md ("Environment of the engine processes"). Each entry names what reads it.
"""

from __future__ import annotations

from typing import MutableMapping

MULTICAST_OFF = {
    # NCCL: NVLink SHARP collectives (NCCL 2.17+), on by default where NVSwitch supports them
    "NCCL_NVLS_ENABLE": "0",
    # PyTorch symmetric memory (torch.distributed._symmetric_memory, used by vLLM and SGLang custom
    # all-reduce and multimem kernels): no multicast objects
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    # NVSHMEM (DeepEP, SGLang/vLLM expert-parallel kernels): no NVLS teams
    "NVSHMEM_DISABLE_NVLS": "1",
}


def spans_gpus(hardware) -> bool:
    """Whether a job's hardware profile may put its engine on more than one GPU."""
    if hardware.device == "cpu":
        return False
    return len(hardware.gpus) > 1 if hardware.gpus else hardware.gpu_count > 1


def multicast_off(env: MutableMapping[str, str], base: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add to env each multicast switch that neither env nor `base` (the environment env will be
    laid over, e.g. os.environ for a worker's additions) sets already; returns env."""
    for key, value in MULTICAST_OFF.items():
        if key not in env and (base is None or key not in base):
            env[key] = value
    return env
