"""JobSpec: the plain, validated, hashed description of one measurement job.

The entrypoint turns Hydra's composed config into a JobSpec; nothing below it sees Hydra.
Validation happens here, once, before anything heavy is imported or any model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llem.config.checks import check_spec
from llem.config.compose_errors import RUN_RENAMED
from llem.errors import UserError
from llem.config.grouping import PER_JOB_HARDWARE
from llem.results.objective import check_objective
from llem.registry import backend_info
from llem.workload.chat_checks import check_chat_job, check_chat_workload, check_sessions
from llem.workload.prefix_checks import PREFIX_DEFAULTS, check_prefix_workload
from llem.workload.structured_checks import STRUCTURED_DEFAULTS, check_structured_workload
from llem.workload.fingerprint import input_hashes
from llem.workload.server_checks import SERVER_ONLY_FIELDS, check_server_job, check_server_workload

SCHEMA_VERSION = 1

# Upper bounds that no real job reaches, so a typo (an extra digit, 1e20) is refused at once
# instead of hanging in loading or warm-up; a model's context bounds the tokens further (llem/config/checks.py).
MAX_PROMPTS = 10_000_000
MAX_TOKENS = 10_000_000
MAX_REPEATS = 100_000


class _Strict(BaseModel):
    # allow_inf_nan=False: a duration, rate or threshold is a finite number (run.cooldown_s=inf is refused)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    name: str
    # builtin: shipped with llem (tiny, smollm2-135m); hub: a Hugging Face id; path: a local directory
    source: Literal["builtin", "hub", "path"] = "hub"
    id: str
    weights: Literal["pretrained", "random"] = "pretrained"
    # Shipped architecture config (llem/models/archs/<arch>.json) used when weights=random.
    arch: Optional[str] = None
    revision: Optional[str] = None
    tokenizer: Optional[str] = None  # defaults to the model's own tokenizer
    gguf: Optional[str] = None  # GGUF file for llama.cpp: path, or 'builtin' for shipped models
    # GGUF quantisation type (e.g. q4_1, q8_0, f16): the type llem converts a built-in model to, or the type a given GGUF must have
    gguf_type: Optional[str] = None
    trust_remote_code: bool = False
    seed: int = 0  # initialisation seed for random weights


class HardwareSpec(_Strict):
    name: str
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # GPU indices to use (as CUDA_VISIBLE_DEVICES sees them); None = the first `gpu_count` GPUs.
    gpus: Optional[list[int]] = None
    gpu_count: int = Field(1, ge=1)
    gpu_name: Optional[str] = None  # profile: expected GPU model, checked against the real one
    gpu_memory_gib: Optional[float] = None
    tdp_w: Optional[float] = None
    fp8: Optional[bool] = None
    cpus_per_task: Optional[int] = Field(None, ge=1)  # for cluster launchers
    mem_gb: Optional[int] = Field(None, ge=1)
    # Sweep axes set through NVML for the job and restored after it (llem/energy/gpu_settings.py); null: left alone
    power_limit_w: Optional[float] = Field(None, gt=0)
    sm_clocks_mhz: Optional[tuple[int, int]] = None  # locked SM clock range [min, max] (one value locks both)
    mem_clock_mhz: Optional[int] = Field(None, gt=0)

    @field_validator("sm_clocks_mhz", mode="before")
    @classmethod
    def _clock_range(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            return (v, v)
        return v

    @model_validator(mode="after")
    def _check_clocks(self):
        if self.sm_clocks_mhz is not None:
            lo, hi = self.sm_clocks_mhz
            if not 0 < lo <= hi:
                raise ValueError(
                    f"hardware.sm_clocks_mhz=[{lo}, {hi}] is not a range: give [min, max] with 0 < min <= max, or one value"
                )
        return self


class EnergySpec(_Strict):
    meter: Literal["auto", "none", "nvml", "rapl", "zeus", "codecarbon"] = "auto"
    include_cpu: bool = True  # auto: add RAPL CPU/DRAM beside the GPU where readable
    baseline_s: float = Field(5.0, ge=0)  # idle power with the model loaded, right before the windows
    sampler: bool = True  # time series of power/temperature/clocks in a separate process
    sample_interval_s: float = Field(0.1, gt=0)
    min_window_updates: int = Field(20, ge=1)  # flag windows shorter than this many counter updates
    grid_intensity_g_per_kwh: Optional[float] = Field(None, ge=0)
    codecarbon_country: Optional[str] = None
    # Window edges on counter updates (NVML, where the update period was measured): docs/energy.md
    align_edges: bool = True
    # Baseline protocol: settle until idle power stops falling (at most settle_max_s), then at least
    # baseline_min_updates counter updates (and baseline_s); a second baseline after the last window.
    settle_max_s: float = Field(30.0, ge=0)
    baseline_min_updates: int = Field(50, ge=1)
    post_baseline: bool = True
    baseline_drift_max: float = Field(0.05, ge=0)  # flag |post - pre| / pre above this
    # Flags from the sampler's per-window conditions and the uncertainty budget:
    power_disagreement_max: float = Field(0.15, ge=0)  # |instant-power joules / counter joules - 1|
    temperature_drift_max_c: float = Field(5.0, ge=0)  # window-start temperature, first vs last repeat
    dynamic_uncertainty_max: float = Field(0.10, ge=0)  # relative expanded uncertainty of dynamic J/token
    host_busy_max_cores: Optional[float] = Field(None, ge=0)  # other processes' CPUs in a window (null: max(1, 10%))


class SamplingSpec(_Strict):
    temperature: float = Field(0.0, ge=0)  # 0 = greedy
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)  # 0 = off


class WorkloadSpec(_Strict):
    name: str
    # offline: the engine in-process; server: its OpenAI-compatible server under load (llem/serving, docs/server.md)
    mode: Literal["offline", "server"] = "offline"
    # builtin: the prompt set llem ships; synthetic: random token ids of exact length; jsonl: a user file
    source: Literal["builtin", "synthetic", "jsonl", "chat"] = "builtin"  # chat: a ShareGPT/OpenAI-messages file
    path: Optional[str] = None
    num_prompts: int = Field(8, ge=1, le=MAX_PROMPTS)
    input_tokens: int = Field(128, ge=1, le=MAX_TOKENS)  # synthetic: exact prompt length; otherwise: the cap
    output_tokens: int = Field(32, ge=1, le=MAX_TOKENS)  # every request generates exactly this many tokens
    batch_size: int = Field(4, ge=1, le=MAX_PROMPTS)
    seed: int = 0
    sampling: SamplingSpec = SamplingSpec()
    # synthetic only: the fraction of each prompt's tokens shared with its group's other prompts, and how many
    # consecutive prompts form a group (llem/workload/prefix.py, docs/workloads.md)
    prefix_share: float = Field(0.0, ge=0, le=0.95)
    prefix_group_size: int = Field(8, ge=1)
    # source=chat: fixed (workload.output_tokens per request) | dataset (each reply's token count, capped; server)
    output_lengths: Literal["fixed", "dataset"] = "fixed"
    # server, endpoint=chat: conversations of this many turns (history + a new message each), think time between
    # turns (llem/harness/sessions.py, docs/workloads.md); 1: single requests
    turns: int = Field(1, ge=1)
    think_time_s: float = Field(0.0, ge=0)
    # text: free text of exactly output_tokens tokens; json_schema: every output constrained to the JSON schema in
    # schema_path, ending where the object ends (output_tokens is the cap); llem/workload/structured.py, docs/workloads.md
    response_format: Literal["text", "json_schema"] = "text"
    schema_path: Optional[str] = None
    # mode=server only (SERVER_ONLY_FIELDS, checked in llem/workload/server_checks.py):
    concurrency: int = Field(4, ge=1, le=MAX_PROMPTS)  # requests in flight (closed loop); the cap under a request rate
    request_rate: Optional[float] = Field(None, gt=0)  # requests/s (open loop); None: closed loop
    arrival: Literal["poisson", "constant", "burst"] = "poisson"  # open-loop arrival process
    burst_size: int = Field(4, ge=1)  # arrival=burst: requests per burst
    server_url: Optional[str] = None  # attach to a running server instead of starting one
    # completions: POST /v1/completions (text or token-id prompts); chat: /v1/chat/completions, one user message
    endpoint: Literal["completions", "chat"] = "completions"
    ready_timeout_s: float = Field(300.0, gt=0)
    slo_ttft_s: Optional[float] = Field(None, gt=0)  # goodput: requests within both SLOs
    slo_tpot_s: Optional[float] = Field(None, gt=0)
    # load-generator processes; None: chosen from the load (llem/workload/shards.py client_processes)
    client_processes: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _check_source(self):
        if self.source in ("jsonl", "chat") and not self.path:
            raise ValueError(f"workload.source={self.source} needs workload.path=<file.jsonl>")
        check_prefix_workload(self)
        check_chat_workload(self)
        check_sessions(self)
        check_structured_workload(self)
        if self.mode == "server":
            check_server_workload(self)
        return self


class TrackingSpec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: Literal["none", "mlflow"] = "none"


class RunSpec(_Strict):
    repeats: int = Field(3, ge=1, le=MAX_REPEATS)  # measured windows (the minimum when target_ci_pct is set)
    warmup: int = Field(1, ge=0, le=MAX_REPEATS)  # full-length passes over the workload before measuring
    cooldown_s: float = Field(0.0, ge=0)  # pause before each measured window
    # Repeatability (llem/harness/repeat.py, docs/energy.md "Repeatability"). None: each window is one pass, except
    # on a job whose meter has a counter period: there at least target_window_updates periods of work
    # (energy.min_window_updates is another thing: below it a window is flagged short).
    min_window_s: Optional[float] = Field(None, ge=0)
    target_window_updates: int = Field(50, ge=1)
    target_ci_pct: Optional[float] = Field(None, gt=0)  # add windows until the 95% CI half-width is this % of the mean
    max_repeats: int = Field(20, ge=1, le=MAX_REPEATS)  # the cap on windows when target_ci_pct is set
    warmup_s: float = Field(0.0, ge=0)  # warm-up passes repeat until at least this long (after `warmup` passes)
    # baseline: before each window wait (at most cooldown_max_s) until power is back near the idle baseline
    cooldown_mode: Literal["fixed", "baseline"] = "baseline"
    cooldown_max_s: float = Field(30.0, ge=0)
    phases: bool = False  # also measure prefill-only windows: prefill J/input token, decode J/output token (offline)
    isolation: Literal["process", "inline"] = "process"
    # keep the worker (and its loaded engine or server) for the next job of the same engine configuration
    reuse_engine: bool = True
    timeout_s: Optional[float] = Field(None, gt=0)
    output_root: str = "outputs"
    force: bool = False  # re-measure even when a complete result exists
    quiet: bool = False
    # What the job returns to a Hydra sweeper, minimised: headline metric(s), first measured wins (llem/results/objective.py)
    objective: str = "energy_j_per_output_token"
    max_latency_s: Optional[float] = Field(None, gt=0)  # sweeper penalty (+inf) above this p90 batch latency

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data):
        """Records and configs written before a rename (RUN_RENAMED) read as they were meant."""
        if isinstance(data, dict) and any(old in data for old in RUN_RENAMED):
            data = dict(data)
            for old, new in RUN_RENAMED.items():
                if old in data and new not in data:
                    data[new] = data.pop(old)
        return data

    @model_validator(mode="after")
    def _check_objective(self):
        check_objective(self.objective)  # raises UserError, which pydantic lets through
        if self.target_ci_pct is not None and self.max_repeats < max(self.repeats, 2):
            raise ValueError(
                f"run.max_repeats={self.max_repeats} leaves no room to reach run.target_ci_pct: "
                f"give run.max_repeats >= run.repeats ({self.repeats}) and >= 2"
            )
        return self


# Run settings added after results existed: in a run's identity only where they differ from their
# default, so runs measured before them keep their config hash (resume skips them).
REPEAT_DEFAULTS = {
    k: RunSpec.model_fields[k].default
    for k in (
        "min_window_s",
        "target_window_updates",
        "target_ci_pct",
        "max_repeats",
        "warmup_s",
        "cooldown_mode",
        "cooldown_max_s",
        "phases",
    )
}


# Energy settings added after results existed (aligned edges, the baseline protocol, flag
# thresholds): likewise in a run's identity only where they differ from their default.
ENERGY_DEFAULTS = {
    k: EnergySpec.model_fields[k].default
    for k in (
        "align_edges",
        "settle_max_s",
        "baseline_min_updates",
        "post_baseline",
        "baseline_drift_max",
        "power_disagreement_max",
        "temperature_drift_max_c",
        "dynamic_uncertainty_max",
        "host_busy_max_cores",
    )
}


class JobSpec(_Strict):
    schema_version: int = SCHEMA_VERSION
    # The engine's settings as plain data (what crosses process boundaries and is hashed): validated by
    # its settings model, defaults filled. backend_settings() gives them typed.
    backend: dict[str, Any]
    model: ModelSpec
    hardware: HardwareSpec
    energy: EnergySpec
    workload: WorkloadSpec
    tracking: TrackingSpec = TrackingSpec()
    run: RunSpec = RunSpec()

    @model_validator(mode="after")
    def _check_server(self):
        if self.workload.mode == "server":
            check_chat_job(self)  # raises UserError, which pydantic lets through
            check_server_job(self)
        return self

    @property
    def backend_name(self) -> str:
        return self.backend["name"]

    def backend_settings(self):
        """The engine's settings as its typed settings model (llem/backends/<name>/config.py)."""
        return backend_info(self.backend_name).settings_model().model_validate(self.backend)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def identity(self) -> dict:
        """What defines the measurement; bookkeeping (output paths, verbosity, tracking) is left out."""
        d = self.to_dict()
        d.pop("tracking")
        if d["workload"]["mode"] == "offline":  # server-only fields leave offline hashes unchanged
            for key in SERVER_ONLY_FIELDS:
                d["workload"].pop(key, None)
        if d["workload"]["prefix_share"] == PREFIX_DEFAULTS["prefix_share"]:  # added after results existed:
            for key in PREFIX_DEFAULTS:  # without a shared prefix, earlier runs keep their config hash
                d["workload"].pop(key)
        if d["workload"]["output_lengths"] == "fixed":  # likewise (source=chat's setting)
            d["workload"].pop("output_lengths")
        for key, default in (("turns", 1), ("think_time_s", 0.0)):  # likewise (multi-turn sessions)
            if d["workload"][key] == default:
                d["workload"].pop(key)
        for key, default in STRUCTURED_DEFAULTS.items():  # likewise (structured output); the schema file's
            if d["workload"][key] == default:  # content is hashed with the other input files below
                d["workload"].pop(key)
        for key in PER_JOB_HARDWARE:  # added after results existed: left out while unset, so older
            if d["hardware"].get(key) is None:  # runs keep their config hash and resume skips them
                d["hardware"].pop(key, None)
        run = {k: d["run"][k] for k in ("repeats", "warmup", "cooldown_s")}
        old_names = {new: old for old, new in RUN_RENAMED.items()}  # identity keeps the names hashed before
        run.update({old_names.get(k, k): d["run"][k] for k, default in REPEAT_DEFAULTS.items() if d["run"][k] != default})
        d["run"] = run
        for k, default in ENERGY_DEFAULTS.items():
            if d["energy"][k] == default:
                d["energy"].pop(k)
        inputs = input_hashes(d)  # the bytes of local input files: present only where there are any,
        if inputs:  # so the hashes of runs without input files stay as they were
            d["inputs"] = inputs
        return d

    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def slug(self) -> str:
        w = self.workload
        raw = f"{self.backend_name}_{self.model.name}_bs{w.batch_size}_in{w.input_tokens}_out{w.output_tokens}"
        if w.mode == "server":
            load = f"c{w.concurrency}" + (f"_r{w.request_rate:g}{w.arrival}" if w.request_rate else "")
            raw = f"{self.backend_name}_{self.model.name}_server_{load}_in{w.input_tokens}_out{w.output_tokens}"
        if w.response_format != "text":
            raw += "_json"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-")[:80]

    def run_id(self) -> str:
        return f"{self.slug()}-{self.config_hash()}"


def _describe_error(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{field} is not a known setting; check the spelling (see: python -m llem --cfg job)."
    if "input" in err and loc and not isinstance(err["input"], (dict, list)):
        return f"{field}={err['input']} is not valid: {msg[0].lower() + msg[1:]}."
    return f"{field}: {msg}." if field else f"{msg}."


# Specs built in this process, by their composed config: the CLI validates every point of a sweep
# before Hydra starts, and the in-process launcher then runs those same configs; each is built once.
# Why this cannot go stale across sweep points: the key is the whole composed config (points differ
# in it), and a spec's fields are a function of that config alone (validation reads no environment
# into them). What a hit skips is re-running the environment checks (a workload file still there, an
# engine still installed): the job meets those again when it opens the file or imports the engine.
# Every call gets its own deep copy: JobSpec is frozen, but its dicts and lists (backend settings,
# hardware.gpus) are not, and a caller changing one must not change the next point's spec.
_BUILT: dict[str, JobSpec] = {}
_BUILT_MAX = 1024


def build_spec(cfg: dict) -> JobSpec:
    """Validate a composed config (plain dict) into a JobSpec; raise UserError with one sentence."""
    cfg = dict(cfg)
    cfg.pop("hydra", None)
    key = json.dumps(cfg, sort_keys=True, default=str)
    spec = _BUILT.get(key)
    if spec is None:
        spec = _validate(cfg)
        if len(_BUILT) >= _BUILT_MAX:
            _BUILT.clear()
        _BUILT[key] = spec
    return spec.model_copy(deep=True)


def forget_built_specs() -> None:
    """Drop the specs built so far (tests that change the environment between two builds)."""
    _BUILT.clear()


def _validate(cfg: dict) -> JobSpec:
    backend = dict(cfg.get("backend") or {})
    info = backend_info(str(backend.get("name")))
    try:
        backend = info.settings_model()(**backend).model_dump(mode="json")
    except ValidationError as exc:
        raise UserError(_describe_error(exc, "backend.")) from None
    cfg["backend"] = backend
    try:
        spec = JobSpec(**cfg)
    except ValidationError as exc:
        raise UserError(_describe_error(exc)) from None
    check_spec(spec, info)  # cross-field rules, then each group's own (energy sensors, tracking settings)
    return spec
