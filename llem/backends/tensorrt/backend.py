"""TensorRT-LLM through its LLM API, with an engine cache keyed by the build settings.

runtime=pytorch (the default) uses TensorRT-LLM's PyTorch runtime (tensorrt_llm.LLM, >= 1.0).
runtime=trt builds a TensorRT engine (tensorrt_llm._tensorrt_engine.LLM, 1.0-1.2) and saves it
under <llem cache>/tensorrt-engines/<hash>; a later job whose build-shaping settings are the same
loads the saved engine instead of building. Not yet run on hardware: TensorRT-LLM cannot be installed on llem's CPU machines.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from llem.backends.base import Backend, Generation
from llem.backends.kv_budget import kv_dtype, pool
from llem.backends.tensorrt.config import TensorRTConfig
from llem.backends.tensorrt import mapping
from llem.models.source import model_source
from llem.paths import cache_dir
from llem.workload.request import Request


class TensorRTBackend(Backend[TensorRTConfig]):
    name = "tensorrt"

    def load(self) -> None:
        import tensorrt_llm
        from tensorrt_llm.llmapi import KvCacheConfig, SamplingParams

        s = self.settings
        self.version = tensorrt_llm.__version__
        self.source = model_source(self.spec.model)
        self.kv_cache = mapping.kv_cache_settings(self.spec)
        kwargs = mapping.llm_kwargs(self.spec, self.source.model, self.source.tokenizer, self.source.load_format)
        kwargs["kv_cache_config"] = KvCacheConfig(**self.kv_cache)
        self.engine_dir, self.engine_cache_hit, self.build_s = None, False, None
        if s.runtime == "pytorch":
            from tensorrt_llm import LLM

            self.llm = LLM(**kwargs)
        else:
            self._load_trt_engine(kwargs, mapping)
        self.llm_kwargs = {k: v for k, v in kwargs.items() if k not in ("kv_cache_config", "build_config", "quant_config")}
        self.sampling_kwargs = mapping.sampling_kwargs(self.spec)
        self.sampling = SamplingParams(**self.sampling_kwargs)
        wrapped = self.llm.tokenizer  # TensorRT-LLM's TransformersTokenizer wraps the HF tokenizer
        self.tokenizer = getattr(wrapped, "tokenizer", wrapped)

    def _load_trt_engine(self, kwargs: dict, mapping) -> None:
        from tensorrt_llm.llmapi import BuildConfig, QuantAlgo, QuantConfig

        LLM = _trt_llm_class()
        self.build = mapping.build_settings(self.spec)
        self.quant = mapping.quant_settings(self.spec)
        key = mapping.engine_cache_key(self.spec, self.version, self.source.load_format)
        root = cache_dir() / "tensorrt-engines"
        engine_dir = root / key
        if self.settings.engine_cache and (engine_dir / "config.json").is_file():
            tokenizer = self.source.tokenizer or self.source.model
            cached = {k: v for k, v in kwargs.items() if k not in ("model", "tokenizer", "dtype", "load_format")}
            self.llm = LLM(model=str(engine_dir), tokenizer=tokenizer, **cached)
            self.engine_dir, self.engine_cache_hit = str(engine_dir), True
            return
        kwargs["build_config"] = BuildConfig(**self.build)
        if self.quant:
            kwargs["quant_config"] = QuantConfig(**{k: (QuantAlgo[v] if v else None) for k, v in self.quant.items()})
        t0 = time.perf_counter()
        self.llm = LLM(**kwargs)
        self.build_s = time.perf_counter() - t0
        if self.settings.engine_cache:
            self.engine_dir = str(_save_engine(self.llm, root, engine_dir))

    @classmethod
    def load_key(cls, spec) -> dict:
        return mapping.build_settings(spec)  # the engine's shape limits come from the workload unless set

    def rebind(self, spec) -> None:
        from tensorrt_llm import SamplingParams

        super().rebind(spec)
        self.sampling_kwargs = mapping.sampling_kwargs(spec)
        self.sampling = SamplingParams(**self.sampling_kwargs)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text))

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def special_ids(self) -> list[int]:
        return list(getattr(self.tokenizer, "all_special_ids", []) or [])

    def generate(self, requests: list[Request]) -> Generation:
        return self.generate_groups(
            requests,
            lambda group: self.llm.generate([list(r.input_ids) for r in group], self.sampling, use_tqdm=False),
            lambda _group, results: ([len(r.prompt_token_ids) for r in results], [len(r.outputs[0].token_ids) for r in results]),
            lambda _group, results: [list(r.outputs[0].token_ids) for r in results],
        )

    def describe(self) -> dict:
        effective = {
            "runtime": self.settings.runtime,
            "batching": self.settings.batching,
            "kv_cache_config": self.kv_cache,
            "llm_kwargs": {k: v for k, v in self.llm_kwargs.items() if k not in ("model", "tokenizer")},
            "sampling": self.sampling_kwargs,
        }
        args = getattr(self.llm, "args", None)  # the LLM API's resolved arguments
        if args is not None:
            for k in (
                "dtype",
                "max_batch_size",
                "max_input_len",
                "max_seq_len",
                "max_num_tokens",
                "tensor_parallel_size",
                "pipeline_parallel_size",
                "enable_chunked_prefill",
            ):
                if hasattr(args, k):
                    effective[k] = _plain(getattr(args, k))
            kv = getattr(args, "kv_cache_config", None)
            if kv is not None:
                effective["kv_cache_config_resolved"] = {
                    k: _plain(getattr(kv, k, None))
                    for k in ("free_gpu_memory_fraction", "enable_block_reuse", "max_tokens", "dtype")
                }
        cap = effective.get("max_batch_size") or _build_cap(self)
        bs = self.spec.workload.batch_size
        effective["batch_size"] = min(bs, cap) if self.settings.batching == "static" and cap else cap
        if self.settings.runtime == "trt":
            effective.update(
                build_config=self.build,
                quant_config=self.quant,
                engine_dir=self.engine_dir,
                engine_cache_hit=self.engine_cache_hit,
                engine_build_s=self.build_s,
            )
        return {
            "engine": "tensorrt_llm",
            "engine_version": self.version,
            "versions": {"tensorrt_llm": self.version},
            "effective_settings": effective,
            "model": {"source": self.source.label, "load_format": self.source.load_format, "weights": self.spec.model.weights},
            "token_counts": "prompt_token_ids and outputs[0].token_ids of each TensorRT-LLM RequestOutput",
            "kv_cache_budget": kv_cache_budget(effective),
        }

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            self.llm = None
            llm.shutdown()


def _build_cap(backend):
    return mapping.build_settings(backend.spec)["max_batch_size"]


def _trt_llm_class():
    """The TensorRT-engine LLM class of TensorRT-LLM 1.0-1.2 (tensorrt_llm.LLM is the PyTorch runtime
    there); validation refuses runtime=trt where it is absent (runtimes.py)."""
    from tensorrt_llm._tensorrt_engine import LLM

    return LLM


def _save_engine(llm, root: Path, final: Path) -> Path:
    """Save the built engine into the cache atomically (temp folder + rename)."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        llm.save(str(tmp))
        try:
            tmp.rename(final)
        except OSError:  # another job saved the same engine first
            if not (final / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def kv_cache_budget(effective: dict) -> dict:
    """TensorRT-LLM's paged pool: KvCacheConfig.max_tokens where set or resolved; otherwise it is sized from
    free_gpu_memory_fraction at load and the LLM API does not expose the count."""
    kv = effective.get("kv_cache_config_resolved") or effective.get("kv_cache_config") or {}
    tokens = kv.get("max_tokens")
    cache = kv.get("dtype")
    name = kv_dtype(effective.get("dtype") if cache in (None, "auto") else cache)  # auto: the model's dtype
    return pool(
        tokens if isinstance(tokens, int) else None,
        name,
        f"paged pool, free_gpu_memory_fraction {kv.get('free_gpu_memory_fraction')}",
        reason=None
        if isinstance(tokens, int)
        else "TensorRT-LLM sized its pool from free_gpu_memory_fraction at load and does not expose the token count",
    )
