"""SGLang offline engine (sglang.Engine) with fixed output lengths and token-id prompts.

Run on an H200 with SGLang 0.5.16 (docs/measurements.md); SGLang has no CPU build, so CI checks the mapping only.
"""

from __future__ import annotations

from typing import Optional

from llem.backends.base import Backend, Generation
from llem.backends.kv_budget import kv_dtype, pool
from llem.backends.sglang.config import SglangConfig
from llem.backends.sglang.mapping import engine_kwargs, sampling_params
from llem.backends.sglang.prefix_cache import offline_cached
from llem.backends.sglang.server_info import REPORTED_SERVER_ARGS, read_server_info, scheduler_resolved
from llem.backends.sglang.serverargs import live_fields, plain
from llem.backends.sglang.speculative import OFFLINE_SOURCE, meta_counts
from llem.models.source import model_source
from llem.workload.request import Request
from llem.workload.structured import read_schema, structured


class SglangBackend(Backend[SglangConfig]):
    name = "sglang"

    def load(self) -> None:
        import sglang

        self.source = model_source(self.spec.model)
        self.engine_kwargs = engine_kwargs(self.spec, self.source.model, self.source.tokenizer, self.source.load_format)
        self.engine = sglang.Engine(**self.engine_kwargs)
        self.sampling = _sampling(self.spec)
        self.tokenizer = _engine_tokenizer(self.engine, self.source)
        self.version = getattr(sglang, "__version__", None)
        self.spec_totals = {"drafts": 0, "draft_tokens": 0, "accepted_tokens": 0}  # from every result's meta_info

    @classmethod
    def load_key(cls, spec) -> dict:
        return engine_kwargs(spec)  # max_running_requests and context_length may come from the workload

    def rebind(self, spec) -> None:
        super().rebind(spec)
        self.sampling = _sampling(spec)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    @property
    def vocab_size(self) -> int:
        model_config = getattr(getattr(self.engine, "tokenizer_manager", None), "model_config", None)
        engine_vocab = getattr(model_config, "vocab_size", None)
        return min(len(self.tokenizer), engine_vocab) if engine_vocab else len(self.tokenizer)

    def special_ids(self) -> list[int]:
        return list(getattr(self.tokenizer, "all_special_ids", []) or [])

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def generate(self, requests: list[Request]) -> Generation:
        if not self.settings.disable_radix_cache:
            self.engine.flush_cache()  # prompts repeat across passes: every pass must prefill them again
        return self.generate_groups(
            requests,
            lambda group: self.engine.generate(input_ids=[list(r.input_ids) for r in group], sampling_params=self.sampling),
            self._counts,
            lambda _group, results: [list(res.get("output_ids") or []) for res in results],
            offline_cached,
        )

    def _counts(self, group, results) -> tuple[list[int], list[int]]:
        """Tokens in and out per request, read after the timer; with speculative decoding on, its counts tallied."""
        if self.settings.speculative_algorithm:
            for res in results:
                for key, value in meta_counts(res.get("meta_info")).items():
                    self.spec_totals[key] += value
        return [len(r.input_ids) for r in group], [_output_count(res) for res in results]

    def speculative_counts(self):
        if not self.settings.speculative_algorithm:
            return None
        return dict(self.spec_totals, source=OFFLINE_SOURCE)

    def _server_info(self) -> tuple[Optional[dict], Optional[str]]:
        """Engine.get_server_info(): the scheduler's resolved arguments (llem/backends/sglang/server_info.py)."""
        ask = getattr(self.engine, "get_server_info", None)
        if ask is None:
            return None, "this SGLang's Engine has no get_server_info"
        try:
            return ask(), None
        except Exception as exc:  # a readback must not cost the measurement: recorded with its reason
            return None, f"Engine.get_server_info() failed: {type(exc).__name__}: {exc}"

    def describe(self) -> dict:
        resolved = live_fields(getattr(self.engine, "server_args", None))
        info, why_not = self._server_info()
        scheduler = scheduler_resolved(info)  # where the model runner's choices (attention backend) are
        effective = {k: scheduler.get(k, resolved.get(k)) for k in REPORTED_SERVER_ARGS if k in resolved or k in scheduler}
        cap = effective.get("max_running_requests", self.engine_kwargs["max_running_requests"])
        bs = self.spec.workload.batch_size
        effective.update(
            batching=self.settings.batching,
            radix_cache_flushed_before_each_pass=not self.settings.disable_radix_cache,
            batch_size=min(bs, cap) if self.settings.batching == "static" and cap else cap,
        )
        return {
            "engine": "sglang",
            "engine_version": self.version,
            "versions": {"sglang": self.version},
            "effective_settings": effective,
            "requested_engine_kwargs": {k: v for k, v in self.engine_kwargs.items() if k not in ("model_path", "tokenizer_path")},
            "resolved_server_args": plain(resolved),  # every plain ServerArgs field as llem's process holds it
            "server_info": plain(read_server_info(info)) if info is not None else {"reason": why_not},
            "sampling_params": self.sampling,
            **(
                {
                    "structured_outputs": {
                        "grammar_backend": resolved.get("grammar_backend"),
                        "grammar_backend_read_from": "the engine's resolved ServerArgs.grammar_backend",
                    }
                }
                if structured(self.spec)
                else {}
            ),
            "model": {"source": self.source.label, "load_format": self.source.load_format, "weights": self.spec.model.weights},
            "token_counts": "len(output_ids) of each result, else meta_info.completion_tokens",
            "kv_cache_budget": kv_cache_budget(getattr(self.engine, "scheduler_info", None), resolved),
        }

    def close(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            self.engine = None
            engine.shutdown()


def _sampling(spec) -> dict:
    return sampling_params(spec, read_schema(spec.workload.schema_path) if structured(spec) else None)


def _output_count(result: dict) -> int:
    ids = result.get("output_ids")
    if ids is not None:
        return len(ids)
    return int(result["meta_info"]["completion_tokens"])


def _engine_tokenizer(engine, source):
    tok = getattr(getattr(engine, "tokenizer_manager", None), "tokenizer", None)
    if tok is not None:
        return tok
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source.tokenizer or source.model)


def kv_cache_budget(scheduler_info, resolved: dict) -> dict:
    """SGLang's token pool: max_total_num_tokens, the size its scheduler reported at start-up (sgl.Engine's
    scheduler_info), else the requested max_total_tokens; shared by the running requests."""
    tokens = (scheduler_info or {}).get("max_total_num_tokens") if isinstance(scheduler_info, dict) else None
    tokens = tokens if isinstance(tokens, int) else resolved.get("max_total_tokens")
    cache = resolved.get("kv_cache_dtype")
    name = kv_dtype(resolved.get("dtype") if cache in (None, "auto") else cache)  # auto: the model's dtype
    return pool(
        tokens if isinstance(tokens, int) else None,
        name,
        f"token pool of max_total_num_tokens, pages of {resolved.get('page_size')} tokens, shared by the running requests",
        reason=None if isinstance(tokens, int) else "SGLang reported no max_total_num_tokens (scheduler_info)",
    )
