"""vLLM offline engine (vllm.LLM) with fixed output lengths and token-id prompts."""

from __future__ import annotations

import gc
import os

from llem.backends.base import Backend, Generation
from llem.backends.kv_budget import kv_dtype, pool
from llem.backends.vllm.config import VllmConfig
from llem.backends.vllm.mapping import engine_kwargs, sampling_kwargs
from llem.backends.vllm.prefix_cache import offline_cached
from llem.backends.vllm.speculative import offline_counts
from llem.errors import UserError, did_you_mean
from llem.models.source import ModelSource, model_source
from llem.workload.request import Request
from llem.workload.structured import read_schema, structured

DEFAULT_CPU_KVCACHE_GIB = 1  # cpu_kvcache_space_gib=null on CPU (VLLM_CPU_KVCACHE_SPACE from the environment wins)


class VllmBackend(Backend[VllmConfig]):
    name = "vllm"

    def load(self) -> None:
        s = self.settings
        if self.device == "cpu":
            # An explicit KV-cache size: without one, vLLM's CPU backend reserves
            # gpu_memory_utilization x system RAM, and refuses to start when that much is not free.
            if s.cpu_kvcache_space_gib:
                os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(s.cpu_kvcache_space_gib)
            else:
                os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(DEFAULT_CPU_KVCACHE_GIB))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # its INFO lines drown llem's progress
        import vllm
        from vllm import LLM

        self.source = model_source(self.spec.model)
        kwargs = engine_kwargs(self.spec, self.source)
        if s.speculative_config and "disable_log_stats" not in kwargs:
            # LLM turns stat logging off by default, and with it the counters LLM.get_metrics() reads the
            # acceptance from (llem/backends/vllm/speculative.py)
            kwargs["disable_log_stats"] = False
        _check_engine_fields(kwargs)
        self.engine_kwargs = kwargs
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.sampling = _sampling_params(self.spec)
        self.version = vllm.__version__

    @classmethod
    def load_key(cls, spec) -> dict:
        # the model is compared elsewhere; here what the workload sizes (max_num_seqs, max_model_len)
        return engine_kwargs(spec, ModelSource(model="", tokenizer=None, load_format="", label=""))

    def rebind(self, spec) -> None:
        super().rebind(spec)
        self.sampling = _sampling_params(spec)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    @property
    def vocab_size(self) -> int:
        return min(len(self.tokenizer), self.llm.llm_engine.model_config.get_vocab_size())

    def special_ids(self) -> list[int]:
        return list(getattr(self.tokenizer, "all_special_ids", []) or [])

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def generate(self, requests: list[Request]) -> Generation:
        # Every pass must prefill its prompts: the same prompts repeat from window to window,
        # and a prefix cache kept across passes would turn later windows into cache hits.
        self.llm.reset_prefix_cache()
        return self.generate_groups(
            requests,
            lambda group: self._generate(group),
            lambda _group, results: ([len(r.prompt_token_ids) for r in results], [len(r.outputs[0].token_ids) for r in results]),
            lambda _group, results: [list(r.outputs[0].token_ids) for r in results],
            offline_cached,
        )

    def _generate(self, group):
        outputs = self.llm.generate([{"prompt_token_ids": list(r.input_ids)} for r in group], self.sampling, use_tqdm=False)
        so = getattr(self.sampling, "structured_outputs", None)
        if so is not None and getattr(so, "_backend", None):  # set by vLLM's input processor when it validated the request
            self.grammar_used = so._backend
        return outputs

    def speculative_counts(self):
        if not self.settings.speculative_config:
            return None
        return offline_counts(self.llm.get_metrics())

    def describe(self) -> dict:
        cfg = self.llm.llm_engine.vllm_config
        mc, sc, cc, pc = cfg.model_config, cfg.scheduler_config, cfg.cache_config, cfg.parallel_config
        spec_cfg = getattr(cfg, "speculative_config", None)
        comp = getattr(cfg, "compilation_config", None)
        w = self.spec.workload
        return {
            "engine": "vllm",
            "engine_version": self.version,
            "versions": {"vllm": self.version, "torch": _torch_version()},
            "effective_settings": {
                "batching": self.settings.batching,
                "batch_size": _running_batch(self.settings.batching, w.batch_size, sc.max_num_seqs),
                "batching_note": _batching_note(self.settings.batching, w.batch_size, sc.max_num_seqs),
                "dtype": str(mc.dtype).removeprefix("torch."),
                "max_model_len": mc.max_model_len,
                "quantization": mc.quantization,
                "enforce_eager": mc.enforce_eager,
                "seed": mc.seed,
                "max_num_seqs": sc.max_num_seqs,
                "max_num_batched_tokens": sc.max_num_batched_tokens,
                "enable_chunked_prefill": getattr(sc, "enable_chunked_prefill", None),
                "block_size": cc.block_size,
                "enable_prefix_caching": cc.enable_prefix_caching,
                "prefix_cache_reset_before_each_pass": True,
                "kv_cache_dtype": cc.cache_dtype,
                "gpu_memory_utilization": cc.gpu_memory_utilization,
                "enable_extensible_kv_cache": getattr(cc, "enable_extensible_kv_cache", None),  # vLLM 0.34 on
                "num_kv_cache_blocks": cc.num_gpu_blocks,
                "kv_cache_memory_bytes": getattr(cc, "kv_cache_memory_bytes", None),
                "tensor_parallel_size": pc.tensor_parallel_size,
                "pipeline_parallel_size": pc.pipeline_parallel_size,
                "speculative_config": None if spec_cfg is None else str(spec_cfg),
                "compilation_mode": None if comp is None else _enum_name(getattr(comp, "mode", getattr(comp, "level", None))),
                "cudagraph_mode": None if comp is None else _enum_name(getattr(comp, "cudagraph_mode", None)),
                "cpu_kvcache_space_gib": os.environ.get("VLLM_CPU_KVCACHE_SPACE") if self.device == "cpu" else None,
                "detokenize": self.sampling.detokenize,
                "engine_kwargs": {k: v for k, v in self.engine_kwargs.items() if k not in ("model", "tokenizer")},
                "set_by_llem": sorted(k for k in self.engine_kwargs if k not in ("model", "tokenizer")),
                # every field vLLM resolved, whatever this release names them (e.g. an extensible-KV-cache flag)
                "cache_config": resolved_fields(cc),
                "scheduler_config": resolved_fields(sc),
            },
            **({"structured_outputs": self._structured(cfg)} if structured(self.spec) else {}),
            "model": {
                "source": self.source.label,
                "load_format": self.source.load_format,
                "weights": self.spec.model.weights,
                "architecture": list(getattr(mc.hf_config, "architectures", None) or []),
            },
            "token_counts": "prompt_token_ids and outputs[0].token_ids of each vLLM RequestOutput",
            "kv_cache_budget": kv_cache_budget(cc, mc),
        }

    def _structured(self, cfg) -> dict:
        so_cfg = getattr(cfg, "structured_outputs_config", None)
        used = getattr(self, "grammar_used", None)
        return {
            "grammar_backend": used,
            "grammar_backend_read_from": "StructuredOutputsParams._backend after generate"
            if used
            else "not read back (this vLLM did not set StructuredOutputsParams._backend on llem's SamplingParams)",
            "structured_outputs_config": None if so_cfg is None else resolved_fields(so_cfg),
        }

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        shutdown = getattr(llm, "shutdown", None)  # LLM.shutdown() where this vLLM has it
        try:
            if shutdown is not None:
                shutdown()
            else:
                llm.llm_engine.engine_core.shutdown()  # stops the EngineCore process and its workers
        finally:
            del llm
            gc.collect()
            try:
                from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

                cleanup_dist_env_and_memory()
            except Exception:  # best effort: the worker process exits right after
                pass


def _sampling_params(spec):
    """vllm.SamplingParams for the job; with structured output its StructuredOutputsParams built from the schema."""
    from vllm import SamplingParams

    kw = sampling_kwargs(spec, read_schema(spec.workload.schema_path) if structured(spec) else None)
    if "structured_outputs" in kw:
        from vllm.sampling_params import StructuredOutputsParams

        kw["structured_outputs"] = StructuredOutputsParams(**kw["structured_outputs"])
    return SamplingParams(**kw)


def _check_engine_fields(kwargs: dict) -> None:
    """Names passed through engine_kwargs must be EngineArgs fields of the installed vLLM."""
    import dataclasses

    from vllm.engine.arg_utils import EngineArgs

    known = {f.name for f in dataclasses.fields(EngineArgs)}
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise UserError(
            f"backend.engine_kwargs.{unknown[0]} is not an argument of this vLLM's EngineArgs{did_you_mean(unknown[0], sorted(known))}: check the name against vLLM's engine arguments."
        )


def _batching_note(batching: str, batch_size: int, max_num_seqs: int) -> str:
    if batching == "static":
        return f"requests in groups of workload.batch_size={batch_size}, one LLM.generate call per group, each drained before the next"
    return (
        f"all requests in one LLM.generate call; at most max_num_seqs={max_num_seqs} sequences run at once (continuous batching)"
    )


def _running_batch(batching: str, batch_size: int, cap):
    """Most sequences decoded at once: the engine's cap, and the group size with static batching."""
    if cap is None:
        return batch_size if batching == "static" else None
    return min(batch_size, cap) if batching == "static" else cap


def resolved_fields(config) -> dict:
    """A vLLM config object's plain fields (numbers, strings, booleans, None; enums by name) as resolved
    by the engine, for the record; nested objects and private fields left out."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(config)] if dataclasses.is_dataclass(config) else list(vars(config))
    out = {}
    for name in names:
        if name.startswith("_"):
            continue
        value = getattr(config, name, None)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif hasattr(value, "name") and hasattr(value, "value"):  # an enum
            out[name] = value.name
    return out


def _enum_name(value):
    return getattr(value, "name", None if value is None else str(value))


def _torch_version():
    try:
        import torch

        return torch.__version__
    except ImportError:
        return None


def kv_cache_budget(cc, mc) -> dict:
    """vLLM's paged pool: num_gpu_blocks blocks of block_size tokens (the engine core's count, sent back to
    the LLM at start-up; on CPU the blocks of VLLM_CPU_KVCACHE_SPACE), shared by all running sequences."""
    blocks, size = getattr(cc, "num_gpu_blocks", None), getattr(cc, "block_size", None)
    cache = getattr(cc, "cache_dtype", None)
    name = kv_dtype(mc.dtype if cache in (None, "auto") else cache)  # auto: the model's dtype
    tokens = blocks * size if isinstance(blocks, int) and isinstance(size, int) else None
    return pool(
        tokens,
        name,
        f"paged: {blocks} blocks of {size} tokens, shared by the running sequences",
        reason=None if tokens else "vLLM did not report num_gpu_blocks to the LLM object",
    )
