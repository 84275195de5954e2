"""The backend contract. The harness drives every engine through these methods and never
branches on which engine it is. A Backend is generic over its engine's settings model: engine code reads
typed settings (`self.settings.tensor_parallel_size`), while the JobSpec that crosses process
boundaries keeps them as plain data (`spec.backend`, a dict).

Lifecycle: load() -> encode()/vocab_size for building requests -> warmup() -> generate() per
measured window (synchronize() at each window edge) -> describe() -> close(). Within a sweep a
loaded engine may serve several jobs: rebind(next spec) + reset_peaks() instead of a new load().
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Generic, Optional, TypeVar

from llem.workload.request import Request

__all__ = ["Backend", "BatchRecord", "Generation", "Request"]  # Request is owned by llem.workload.request


@dataclass
class BatchRecord:
    """One engine call (a batch for offline engines)."""

    requests: int
    input_tokens: int
    output_tokens: int
    latency_s: float
    ttft_s: Optional[float] = None  # where the engine exposes it


@dataclass
class Generation:
    """What one pass over the requests produced."""

    input_tokens: list[int]  # per request, as the engine saw them
    output_tokens: list[int]  # per request, counted from the engine's output ids
    batches: list[BatchRecord] = field(default_factory=list)
    # generated token ids per request, where the engine hands them over for free; decoding them is
    # left to whoever needs text, outside the measured window
    output_ids: Optional[list[list[int]]] = None
    # prompt tokens each request found in the engine's prefix cache, where the engine tells (llem/workload/prefix_cache.py)
    cached_tokens: Optional[list[Optional[int]]] = None

    @property
    def total_input_tokens(self) -> int:
        return sum(self.input_tokens)

    @property
    def total_output_tokens(self) -> int:
        return sum(self.output_tokens)


S = TypeVar("S")  # the engine's settings model (a pydantic model in llem/backends/<name>/config.py)


class Backend(abc.ABC, Generic[S]):
    """One engine, configured by a plain JobSpec. Engine imports happen inside methods."""

    name: str = "base"

    def __init__(self, spec, device: str, gpus: list[int]):
        self.spec = spec
        self.settings: S = spec.backend_settings()  # typed, from the spec's plain (already validated) settings
        self.device = device  # "cpu" or "cuda", resolved
        self.gpus = gpus  # GPU indices (as CUDA_VISIBLE_DEVICES sees them) the job uses

    @classmethod
    def load_key(cls, spec) -> dict:
        """What load() takes from the workload (engine sizes derived from batch size or lengths).

        Two jobs with equal backend, model and hardware settings and equal load keys can share one
        loaded engine (llem/harness/warm.py); an engine sized from the workload must say so here."""
        return {}

    def rebind(self, spec) -> None:
        """Point a loaded engine at the next job of a sweep (same load key, another workload):
        rebuild whatever load() derived from the workload, e.g. sampling parameters."""
        self.spec = spec

    def reset_peaks(self) -> None:
        """Start peak-memory accounting afresh for the next job on an engine that stays loaded."""

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model onto the device."""

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Tokenize a prompt exactly as the engine will."""

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int: ...

    def special_ids(self) -> list[int]:
        return []

    def warmup(self, requests: list[Request]) -> None:
        """Run the same work as a measured window, unmeasured (compile, caches, allocators)."""
        self.generate(requests)

    def decode(self, ids: list[int]) -> str:
        """The text of generated token ids, special tokens left out: structured output validates it, outside the
        windows. Engines that constrain to a JSON schema (their Engine's `structured` entry) implement it."""
        raise NotImplementedError(f"backend {self.name} does not decode output token ids")

    @abc.abstractmethod
    def generate(self, requests: list[Request]) -> Generation:
        """Generate exactly workload.output_tokens tokens for every request (workload.response_format=json_schema:
        each output constrained to the schema, ending where its object ends, at most output_tokens)."""

    def generate_groups(self, requests: list[Request], call, counts, ids=None, cached=None) -> Generation:
        """The pass of an engine that batches by itself (vLLM, SGLang, TensorRT-LLM): one timed
        `call(group)` per group, `counts(group, results) -> (input tokens, output tokens)` per
        request, read after the timer, and `ids(group, results) -> output token ids` per request where
        the engine hands them over, and `cached(results)` -> cached prompt tokens per request where it tells.
        backend.batching=static: groups of workload.batch_size, each
        drained before the next; continuous: all requests at once, the engine's scheduler batches."""
        groups = [requests]
        if getattr(self.settings, "batching", None) == "static":
            bs = self.spec.workload.batch_size
            groups = [requests[i : i + bs] for i in range(0, len(requests), bs)]
        ins, outs, batches, out_ids, hits = [], [], [], [], []
        for group in groups:
            t0 = time.perf_counter()
            results = call(group)
            latency = time.perf_counter() - t0
            n_in, n_out = counts(group, results)
            ins += n_in
            outs += n_out
            if ids is not None:
                out_ids += ids(group, results)
            if cached is not None:
                hits += cached(results)
            batches.append(BatchRecord(requests=len(group), input_tokens=sum(n_in), output_tokens=sum(n_out), latency_s=latency))
        return Generation(
            input_tokens=ins,
            output_tokens=outs,
            batches=batches,
            output_ids=out_ids if ids else None,
            cached_tokens=hits if cached else None,
        )

    def synchronize(self) -> None:
        """Block until queued device work is done; called at every window edge."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """Engine name and version, and the settings the engine actually used."""

    def memory(self) -> dict:
        """Peak device memory in MiB where the engine can tell; keys ending in _mib."""
        return {}

    def cuda_uuids(self) -> Optional[list[Optional[str]]]:
        """After load(): the UUID CUDA itself reports for each of the job's logical GPUs, to check the
        meter's CUDA_VISIBLE_DEVICES mapping against; None where the engine cannot tell (it computes
        in processes of its own, or exposes no UUIDs)."""
        return None

    def speculative_counts(self) -> Optional[dict]:
        """The engine's cumulative speculative-decoding counts since load ({"drafts", "draft_tokens",
        "accepted_tokens", "source"}; llem/results/speculative.py), read outside the energy windows; None where the
        engine reports none or the job configures no speculative decoding."""
        return None

    def close(self) -> None:
        """Release the model and the device."""
