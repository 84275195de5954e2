"""Measured: what a harness (offline or server) returns for one job, before it becomes result.json.

It crosses the worker's process boundary as a plain dict (to_dict / from_dict) and is assembled
into the result record by llem/results/schema.py, which reads its fields by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

ENGINE_SIDE_COUNT = "output ids returned by the engine, per request (engine-side count)"


@dataclass
class Measured:
    device: str  # where the job ran: "cpu" | "cuda"
    gpus: list[int]  # logical CUDA indices metered
    engine: dict  # describe(): engine, engine_version, effective_settings
    meter: dict  # the meter's describe()
    baseline: dict  # idle power with the model loaded (power_w None with a reason where not measured)
    windows: list[dict]  # per measured window: raw values and derived metrics
    statistics: dict  # per metric over the windows: mean, std, CV, 95% CI
    latency: dict
    memory: dict
    requests: dict  # count, input tokens per request
    flags: list[str] = field(default_factory=list)
    timeseries: Optional[dict] = None  # the sampler's summary (None without a sampler)
    load_s: Optional[float] = None  # this job's own loading time; None when it loaded nothing
    engine_load: Optional[dict] = None  # reused?, load duration, the job that loaded it (None when attached)
    tokens_counted: str = ENGINE_SIDE_COUNT  # which tokens the per-token figures count
    server: Optional[dict] = None  # workload.mode=server: url, load, latency, goodput, token accounting
    outputs: Optional[dict] = None  # per request: hash and first ids of the output tokens (offline engines)
    phases: Optional[dict] = None  # run.phases: prefill-only windows and the prefill/decode split
    repeatability: Optional[dict] = None  # windows taken, interval reached, target met or why not, drift
    gpu_settings: Optional[dict] = None  # hardware.power_limit_w / clocks applied for the job, restored after
    structured: Optional[dict] = None  # workload.response_format=json_schema: valid fraction, J per valid object, grammar
    prefix_cache: Optional[dict] = None  # the hit rate read back from the engine beside the intended share (docs/workloads.md)
    speculative: Optional[dict] = None  # speculative decoding's acceptance read back from the engine, J per accepted token

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Measured":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Measured fields: {sorted(unknown)}")
        return cls(**data)
