"""Cross-field checks of a JobSpec, run before any engine import or model load."""

from __future__ import annotations

import os
from pathlib import Path

from llem.config.grouping import PER_JOB_HARDWARE
from llem.energy.checks import check_energy
from llem.errors import UserError, choice_error
from llem.host.devices import resolve_device, visible_gpu_count
from llem.models.archs import arch_names
from llem.models.builtin import BUILTIN_MODELS
from llem.models.config_json import model_config
from llem.tracking.settings import check_tracking
from llem.workload.prompts import validate_source
from llem.workload.structured_checks import check_structured_job


def check_spec(spec, info) -> None:
    check_output_root(spec.run.output_root)
    _check_hardware(spec, info)
    _check_model(spec)
    _check_workload(spec)
    hook = getattr(info.settings_model(), "check", None)
    if hook is not None:  # engine-specific cross-field rules (tp size vs GPUs, fp8 support, ...)
        hook(spec)
    check_structured_job(spec)  # the schema file, and whether this engine can constrain to it
    if info.offline is None and spec.workload.mode != "server":
        raise UserError(
            f"backend={info.name} runs as a server only, not in workload.mode={spec.workload.mode}: set workload.mode=server."
        )
    info.check_installed()
    check_energy(spec)
    check_tracking(spec.tracking)  # the tracker's own (loosely typed) group


def _check_hardware(spec, info) -> None:
    """Static checks only: the submitting host (a Slurm login node, say) may have no GPU while the
    job's node has one, so GPU presence is checked in the job (see device_for_job)."""
    hw = spec.hardware
    if hw.device != "auto" and hw.device not in info.devices:
        runs_on = " or ".join(d.upper() if d == "cuda" else d.upper() for d in info.devices)
        raise UserError(
            f"backend={info.name} runs only on {runs_on} devices, not on hardware={hw.name} (device {hw.device}): "
            f"choose a GPU hardware profile such as hardware=cuda or hardware=h100, or another backend."
        )
    gpu_settings = [k for k in PER_JOB_HARDWARE if getattr(hw, k) is not None]
    if gpu_settings and hw.device == "cpu":
        raise UserError(
            f"hardware.{gpu_settings[0]} sets a GPU's power or clocks, but hardware={hw.name} is the CPU: "
            f"use a GPU hardware profile (hardware=cuda) or leave it unset."
        )
    if hw.gpus is not None and len(hw.gpus) != hw.gpu_count:
        raise UserError(
            f"hardware.gpus={hw.gpus} lists {len(hw.gpus)} GPUs but hardware.gpu_count={hw.gpu_count}: make them agree."
        )


def device_for_job(spec, info) -> str:
    """Resolve the device where the job runs; called in the job's own process."""
    hw = spec.hardware
    device = resolve_device(hw.device)
    if device == "cuda" and visible_gpu_count() == 0:
        raise UserError(
            f"hardware={hw.name} asks for a CUDA GPU but none is visible to this job: use hardware=cpu or hardware=auto, or run on a GPU node."
        )
    if device not in info.devices:
        raise UserError(
            f"backend={info.name} cannot run on {device} (hardware={hw.name} resolved to {device} here): it runs on {', '.join(info.devices)}."
        )
    return device


def _check_model(spec) -> None:
    m = spec.model
    if m.source == "builtin" and m.id not in BUILTIN_MODELS:
        raise choice_error("model.id (builtin)", m.id, list(BUILTIN_MODELS))
    if m.weights == "random":
        if m.source == "builtin":
            raise UserError(
                f"model.weights=random is for hub architectures; model={m.name} is built in: use model=tiny for a random-weight test model."
            )
        if not m.arch:
            raise UserError(
                f"model.weights=random needs model.arch, the shipped architecture to build: choose one of {', '.join(arch_names())}."
            )
        if m.arch not in arch_names():
            raise choice_error("model.arch", m.arch, arch_names())
    if m.source == "path" and not Path(m.id).expanduser().is_dir():
        raise UserError(f"model.id={m.id} is not a directory: model.source=path needs a local model folder.")


def _check_workload(spec) -> None:
    w = spec.workload
    if w.path and w.source not in ("jsonl", "chat"):
        raise UserError(
            f"workload.path={w.path} applies only to a JSONL or chat-dataset workload, but workload={w.name} "
            f"uses workload.source={w.source}: add workload=jsonl (or workload=chat) to measure that file, "
            f"or drop workload.path."
        )
    if w.source == "jsonl":
        p = Path(w.path).expanduser()
        if not p.is_file():
            raise UserError(
                f'workload.path={w.path} does not exist: give a JSONL file with one {{"prompt": ...}} object per line.'
            )
    validate_source(w)
    # A batch asked for that the prompt set cannot fill is refused; the default batch (4) with fewer prompts
    # runs batches of num_prompts, as each window's per-call record (batch_requests) says.
    default_batch = type(w).model_fields["batch_size"].default
    if w.mode == "offline" and w.batch_size > w.num_prompts and w.batch_size != default_batch:
        raise UserError(
            f"workload.batch_size={w.batch_size} is larger than workload.num_prompts={w.num_prompts}: every "
            f"batch would hold {w.num_prompts}, so the run would not measure batch {w.batch_size}; give "
            f"workload.batch_size <= {w.num_prompts} or more prompts."
        )
    _check_context(spec)
    _check_prompt_memory(w)


# Context lengths of the built-in models, for a check before their folder is built.
_BUILTIN_CONTEXT = {"tiny": 2048}
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx")


def _check_context(spec) -> None:
    """input_tokens (the prompt cap; synthetic: the exact length) + output_tokens must fit the
    model's context, as its config.json gives it (where it is known here without a download)."""
    w, m = spec.workload, spec.model
    cfg, _ = model_config(m)
    context = next((cfg[k] for k in _CONTEXT_KEYS if isinstance((cfg or {}).get(k), int)), None)
    if context is None and m.source == "builtin":
        context = _BUILTIN_CONTEXT.get(m.id)
    if context is not None and w.input_tokens + w.output_tokens > context:
        raise UserError(
            f"workload.input_tokens={w.input_tokens} + workload.output_tokens={w.output_tokens} = "
            f"{w.input_tokens + w.output_tokens} tokens exceed model={m.name}'s context of {context} "
            f"tokens: lower them so that their sum is at most {context}."
        )


_BYTES_PER_PROMPT_TOKEN = 40  # a token id held in Python lists and the engine's input tensors, with slack


def _check_prompt_memory(w) -> None:
    """The prompt set must fit in this machine's memory (token ids held by llem and the engine)."""
    need = w.num_prompts * (w.input_tokens + w.output_tokens) * _BYTES_PER_PROMPT_TOKEN
    available = _available_memory()
    if available is not None and need > available // 2:
        raise UserError(
            f"workload.num_prompts={w.num_prompts} prompts of up to {w.input_tokens}+{w.output_tokens} tokens "
            f"need about {need / 2**30:.1f} GiB for their token ids alone, more than half of this machine's "
            f"{available / 2**30:.1f} GiB available memory: use fewer prompts."
        )


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_output_root(root: str) -> None:
    """run.output_root must be (or be creatable as) a writable folder: checked before any work."""
    if not str(root).strip():
        raise UserError("run.output_root is empty: give the folder results go to, e.g. run.output_root=outputs.")
    path = Path(root).expanduser()
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is not a folder" if probe == path else f"lies under {probe}, which is not a folder"
        raise UserError(f"run.output_root={root} {what}: give a folder llem can write results to, e.g. run.output_root=outputs.")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" ({probe} cannot be written)"
        raise UserError(
            f"run.output_root={root} is not writable{where}: give a folder you can write to, e.g. run.output_root=outputs."
        )
