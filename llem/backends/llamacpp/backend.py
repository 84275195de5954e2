"""llama.cpp through llama-cpp-python, with llem's own token loop for exact output lengths.

llama-cpp-python's high-level completion API runs one sequence, stops at end-of-generation tokens
and re-uses the KV cache for a shared prompt prefix; each would distort a measurement. So generation
goes through the bindings' low-level API instead (batched.py): `workload.batch_size` requests decode
together in one llama.cpp batch (one sequence id each, their own KV cells, their own sampler chain),
the KV cache cleared before every engine call, `output_tokens` steps per request with a sampler
chain whose first stage is a -inf logit bias on every end-of-generation token. Token counts come
from the tokens actually sampled. One engine call = one batch = one BatchRecord.

"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

from llem.backends.base import Backend, BatchRecord, Generation
from llem.backends.kv_budget import bytes_per_token, kv_dtype, pool
from llem.backends.llamacpp import batched, structured
from llem.backends.llamacpp.config import KV_CACHE_TYPES, LlamaCppConfig, context_length
from llem.backends.llamacpp.layout import flash_attn
from llem.backends.llamacpp.precision import loaded_precision
from llem.backends.llamacpp.threads import physical_cores
from llem.backends.llamacpp.vocab import read_vocab
from llem.errors import UserError
from llem.backends.llamacpp.gguf import resolve_gguf
from llem.workload.request import Request
from llem.workload.structured import read_schema

BATCHING = (
    "batched: workload.batch_size requests per engine call, decoded together in one llama_batch (a sequence id "
    "each, a KV cache of n_ctx_seq tokens per sequence); prompts prefilled together in n_batch-token llama_decode "
    "calls, then one llama_decode per step holding one token of every sequence"
)


def _file_type_names(llama_cpp) -> dict[int, str]:
    """general.file_type values -> names such as q4_k_m or f16, from the bindings' own constants."""
    names = {}
    for attr in dir(llama_cpp):
        if attr.startswith("LLAMA_FTYPE_") and attr != "LLAMA_FTYPE_GUESSED":
            short = attr.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
            names.setdefault(int(getattr(llama_cpp, attr)), short.lower())
    return names


class LlamaCppBackend(Backend[LlamaCppConfig]):
    name = "llamacpp"

    def load(self) -> None:
        import llama_cpp

        s, m, w = self.settings, self.spec.model, self.spec.workload
        self._lib = llama_cpp
        if self.device == "cuda" and not llama_cpp.llama_supports_gpu_offload():
            raise UserError(
                "this llama-cpp-python build has no GPU support, so hardware with a GPU cannot be used: rebuild it with "
                "CMAKE_ARGS='-DGGML_CUDA=on' pip install --force-reinstall --no-binary llama-cpp-python llama-cpp-python, or use hardware=cpu."
            )
        self.gguf_path, self.gguf_origin = resolve_gguf(m)
        self.n_gpu_layers = s.n_gpu_layers if s.n_gpu_layers is not None else (-1 if self.device == "cuda" else 0)
        cpus = physical_cores()
        kwargs = {
            "model_path": str(self.gguf_path),
            "n_gpu_layers": self.n_gpu_layers,
            "n_ctx": context_length(self.spec.backend, w),
            "n_batch": s.n_batch,
            "n_ubatch": s.n_ubatch,
            "n_threads": s.n_threads or cpus,
            "n_threads_batch": s.n_threads_batch or s.n_threads or cpus,
            "flash_attn": s.flash_attn,
            "use_mmap": s.use_mmap,
            "seed": s.seed,
            "logits_all": False,
            "verbose": False,
        }
        for key in ("type_k", "type_v"):
            if getattr(s, key) is not None:
                kwargs[key] = KV_CACHE_TYPES[getattr(s, key)]
        accepted = set(inspect.signature(llama_cpp.Llama.__init__).parameters)
        for key in s.llama_kwargs:
            if key not in accepted:  # Llama() swallows unknown keywords silently: refuse them instead
                raise UserError(
                    f"backend.llama_kwargs.{key} is not an argument of llama_cpp.Llama() in llama-cpp-python {llama_cpp.__version__}: check the name."
                )
        kwargs.update(s.llama_kwargs)
        self.llm = llama_cpp.Llama(**kwargs)
        self.file_type = self._file_type()
        if m.gguf_type and self.file_type != m.gguf_type.lower():
            raise UserError(
                f"model.gguf_type={m.gguf_type} does not match {self.gguf_path.name}, which is {self.file_type}: fix model.gguf_type or model.gguf."
            )
        self._scan_vocab()
        self._ctx, self._own_ctx, self._n_seq, self._batch, self._samplers = None, False, 0, None, []
        self._prepare()

    # ------------------------------------------------------------------ tokens

    def _file_type(self) -> str:
        raw = self.llm.metadata.get("general.file_type")
        if raw is None:
            return "unknown"
        return _file_type_names(self._lib).get(int(raw), f"file_type {raw}")

    def _scan_vocab(self) -> None:
        self._vocab = read_vocab(self._lib, self._lib.llama_model_get_vocab(self.llm.model))
        self.eog_ids = list(self._vocab.eog)
        self._eog_set = frozenset(self.eog_ids)

    @classmethod
    def load_key(cls, spec) -> dict:
        return {"n_ctx": context_length(spec.backend, spec.workload)}

    def rebind(self, spec) -> None:
        super().rebind(spec)
        self._prepare()  # sampling settings and the batch size may differ per job

    def _prepare(self) -> None:
        """The generation context, batch buffer and one sampler chain per sequence for this job's batch
        size. One sequence uses the Llama object's own context; more get a context of their own
        (n_seq_max sequences of the same per-sequence length) made once per batch size."""
        lib, n_seq = self._lib, self.spec.workload.batch_size
        self._free_samplers()
        if n_seq != self._n_seq:
            self._free_context()
            if n_seq == 1:
                self._ctx, self._own_ctx = self.llm.ctx, False
            else:
                n_ctx_seq = lib.llama_n_ctx(self.llm.ctx)
                self._ctx = batched.new_context(lib, self.llm.model, self.llm.context_params, n_ctx_seq, n_seq)
                self._own_ctx = True
            self._batch = batched.Batch(lib, max(lib.llama_n_batch(self._ctx), n_seq))
            self._n_seq = n_seq
        self._grammar_for(self.spec)
        self._samplers = [self._build_sampler() for _ in range(n_seq)]

    def _grammar_for(self, spec) -> None:
        """workload.response_format=json_schema: the schema's GBNF grammar (converted once per schema, timed)."""
        self._gbnf = None
        if spec.workload.response_format != "json_schema":
            return
        schema = read_schema(spec.workload.schema_path)
        key = json.dumps(schema, sort_keys=True)
        if getattr(self, "_gbnf_key", None) != key:
            t0 = time.perf_counter()
            self._gbnf_text = structured.gbnf(schema)
            self._gbnf_s, self._gbnf_key = time.perf_counter() - t0, key
        self._gbnf = self._gbnf_text

    def encode(self, text: str) -> list[int]:
        # add_bos=True adds BOS only where the GGUF says the model wants it; special=True parses
        # special-token text as transformers does.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    @property
    def vocab_size(self) -> int:
        """The tokens a synthetic prompt may use: the tokenizer's, not the GGUF's padding (vocab.py)."""
        return self._vocab.drawable

    def special_ids(self) -> list[int]:
        return list(self._vocab.special)

    # ------------------------------------------------------------------ sampling

    def _build_sampler(self):
        lib, sampling = self._lib, self.spec.workload.sampling
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if self._gbnf is not None:  # structured output: the grammar first; an object ends where it ends (EOG allowed)
            vocab = lib.llama_model_get_vocab(self.llm.model)
            grammar = lib.llama_sampler_init_grammar(vocab, self._gbnf.encode("utf-8"), b"root")
            if not grammar:
                lib.llama_sampler_free(chain)
                raise UserError(
                    f"llama.cpp could not parse the grammar llama-cpp-python made from workload.schema_path="
                    f"{self.spec.workload.schema_path}: simplify the schema to what llama.cpp's converter supports."
                )
            lib.llama_sampler_chain_add(chain, grammar)
        elif self.eog_ids:  # never end early: every request yields exactly output_tokens tokens
            if getattr(self, "_bias", None) is None:
                self._bias = batched.logit_bias_array(lib, self.eog_ids)
            lib.llama_sampler_chain_add(
                chain, lib.llama_sampler_init_logit_bias(self._vocab.n_vocab, len(self.eog_ids), self._bias)
            )
        if sampling.temperature == 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            if sampling.top_k:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(sampling.top_k))
            if sampling.top_p < 1:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(sampling.temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(self.settings.seed))
        return chain

    def generate(self, requests: list[Request]) -> Generation:
        lib, n_out, bs = self._lib, self.spec.workload.output_tokens, self._n_seq
        stop = self._eog_set if self._gbnf is not None else None  # structured: a sequence ends at its EOG token
        ins, outs, batches, out_ids = [], [], [], []
        for r in requests:
            if not r.input_ids:
                raise UserError(
                    f"request {r.id} has no prompt tokens: llama.cpp needs at least one (check the workload's prompts)."
                )
        for start in range(0, len(requests), bs):
            chunk = requests[start : start + bs]
            prompts = [list(r.input_ids) for r in chunk]
            ids, ttft, latency = batched.run_batch(lib, self._ctx, self._batch, self._samplers, prompts, n_out, stop)
            n_in, n_got = [len(p) for p in prompts], [len(x) for x in ids]
            ins += n_in
            outs += n_got
            out_ids += ids
            batches.append(
                BatchRecord(requests=len(chunk), input_tokens=sum(n_in), output_tokens=sum(n_got), latency_s=latency, ttft_s=ttft)
            )
        return Generation(input_tokens=ins, output_tokens=outs, batches=batches, output_ids=out_ids)

    def decode(self, ids: list[int]) -> str:
        return self.llm.detokenize([t for t in ids if t not in self._eog_set], special=False).decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ description

    def describe(self) -> dict:
        lib, llm, s = self._lib, self.llm, self.settings
        ctx, model = self._ctx, llm.model
        n_layer = lib.llama_model_n_layer(model)
        offload = bool(lib.llama_supports_gpu_offload())
        requested = self.n_gpu_layers
        # llama.cpp offloads min(n_gpu_layers, n_layer + 1) layers (the +1 is the output layer); -1 means all.
        offloaded = 0 if not offload else (n_layer + 1 if requested < 0 else min(requested, n_layer + 1))
        sampling = self.spec.workload.sampling
        return {
            "engine": "llama.cpp",
            "engine_version": lib.__version__,
            "versions": {"llama-cpp-python": lib.__version__},
            "system_info": lib.llama_print_system_info().decode("utf-8", errors="replace").strip(),
            "effective_settings": {
                "n_ctx": lib.llama_n_ctx(ctx),
                "n_batch": lib.llama_n_batch(ctx),
                "n_ubatch": lib.llama_n_ubatch(ctx),
                "n_threads": lib.llama_n_threads(ctx),
                "n_threads_batch": lib.llama_n_threads_batch(ctx),
                "n_gpu_layers_requested": requested,
                "n_gpu_layers_offloaded": offloaded,
                "gpu_offload_supported": offload,
                "flash_attn": flash_attn(llm.context_params),
                "type_k": s.type_k or "f16",
                "type_v": s.type_v or "f16",
                "use_mmap": s.use_mmap,
                "llama_kwargs": s.llama_kwargs,
                "n_ctx_seq": lib.llama_n_ctx_seq(ctx) if hasattr(lib, "llama_n_ctx_seq") else lib.llama_n_ctx(ctx) // self._n_seq,
                "n_seq_max": lib.llama_n_seq_max(ctx) if hasattr(lib, "llama_n_seq_max") else self._n_seq,
                "kv_unified": False,
                "batching": BATCHING,
                "batch_size": self._n_seq,
                "fixed_length": "end-of-generation tokens get a -inf logit bias; output counted from sampled tokens"
                if self._gbnf is None
                else "none (structured output: each sequence ends at its end-of-generation "
                "token, counted, or at workload.output_tokens)",
                "sampling": "greedy"
                if sampling.temperature == 0
                else f"top_k={sampling.top_k or 'off'} top_p={sampling.top_p} temperature={sampling.temperature} seed={s.seed}",
                "kv_cache_reuse": "none: the KV cache is cleared before every engine call",
                "kv_cache_contexts": "the Llama object's own (one sequence of n_ctx_seq tokens)"
                if not self._own_ctx
                else "a context for batch_size sequences, beside the Llama object's own single-sequence one (allocated, idle)",
                "kv_cache_dtype": s.type_k or "f16",
                **loaded_precision(self.gguf_path, llm.metadata, lib.llama_model_size(model), lib.llama_model_n_params(model)),
            },
            **({} if self._gbnf is None else {"structured_outputs": self._structured()}),
            "kv_cache_budget": self._kv_cache_budget(n_layer),
            "model": {
                "gguf": str(self.gguf_path),
                "gguf_origin": self.gguf_origin,
                "gguf_type": self.file_type,
                "gguf_size_mib": Path(self.gguf_path).stat().st_size / 2**20,
                "description": self._model_desc(),
                "parameters": lib.llama_model_n_params(model),
                "n_layer": n_layer,
                "n_vocab": self._vocab.n_vocab,
                "n_vocab_tokenizer": self._vocab.drawable,
                "n_ctx_train": lib.llama_model_n_ctx_train(model),
                "eog_token_ids": self.eog_ids,
                "weights": self.spec.model.weights,
            },
        }

    def _structured(self) -> dict:
        return {
            "grammar_backend": structured.GRAMMAR_BACKEND,
            "schema_to_gbnf": "llama-cpp-python json_schema_to_gbnf",
            "schema_to_gbnf_s": self._gbnf_s,
            "gbnf_chars": len(self._gbnf),
            "grammar_parse": "llama_sampler_init_grammar per sequence when the job starts, then again at every "
            "llama_sampler_reset (before each engine call: inside the windows, as per request on a server)",
        }

    def _kv_cache_budget(self, n_layer: int) -> dict:
        """The context the batches decode in: n_ctx token cells, n_ctx_seq for each of n_seq_max sequences."""
        lib, ctx, model, s = self._lib, self._ctx, self.llm.model, self.settings
        n_ctx = lib.llama_n_ctx(ctx)
        n_seq = lib.llama_n_seq_max(ctx) if hasattr(lib, "llama_n_seq_max") else self._n_seq
        per_seq = lib.llama_n_ctx_seq(ctx) if hasattr(lib, "llama_n_ctx_seq") else n_ctx // max(1, n_seq)
        name = kv_dtype(s.type_k or "f16", s.type_v or "f16")
        per_token = None
        if all(hasattr(lib, f) for f in ("llama_model_n_head_kv", "llama_model_n_head", "llama_model_n_embd")):
            heads = lib.llama_model_n_head(model)
            per_token = bytes_per_token(
                n_layer, lib.llama_model_n_head_kv(model), lib.llama_model_n_embd(model) // heads if heads else None, name
            )
        note = "llama.cpp context: n_ctx KV cells, a fixed n_ctx_seq of them per sequence, cleared before every engine call"
        if self._own_ctx:
            note += "; the Llama object's own single-sequence context holds n_ctx_seq more cells, idle"
        return pool(n_ctx, name, note, per_sequence_tokens=per_seq, sequences=n_seq, per_token_bytes=per_token)

    def _model_desc(self) -> str:
        import ctypes

        buf = ctypes.create_string_buffer(256)
        self._lib.llama_model_desc(self.llm.model, buf, ctypes.sizeof(buf))
        return buf.value.decode("utf-8", errors="replace")

    def _free_samplers(self) -> None:
        samplers, self._samplers = getattr(self, "_samplers", []), []
        for sampler in samplers:
            self._lib.llama_sampler_free(sampler)

    def _free_context(self) -> None:
        batch, self._batch = getattr(self, "_batch", None), None
        if batch is not None:
            batch.free()
        ctx, own, self._ctx, self._own_ctx, self._n_seq = (
            getattr(self, "_ctx", None),
            getattr(self, "_own_ctx", False),
            None,
            False,
            0,
        )
        if ctx is not None and own:
            self._lib.llama_free(ctx)

    def close(self) -> None:
        self._free_samplers()
        self._free_context()  # before the model it was made from
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()
