"""llama.cpp through llama-cpp-python, with llem's own token loop for exact output lengths.

llama-cpp-python's high-level completion API stops at end-of-generation tokens and re-uses the
KV cache for a shared prompt prefix. Both would distort a measurement, so each request here is:
reset the context, evaluate the prompt (`Llama.eval`), then sample one token and evaluate it,
`output_tokens` times, with a llama.cpp sampler chain whose first stage is a -inf logit bias on
every end-of-generation token. Token counts come from the tokens actually sampled.

The engine runs one sequence at a time: `workload.batch_size` does not batch requests here;
every request is its own engine call with its own latency and time to first token.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

from llem.backends.base import Backend, BatchRecord, Generation
from llem.backends.llamacpp.config import KV_CACHE_TYPES, context_length
from llem.backends.llamacpp.layout import flash_attn
from llem.backends.llamacpp.precision import loaded_precision
from llem.backends.llamacpp.threads import physical_cores
from llem.errors import UserError
from llem.models.gguf import resolve_gguf
from llem.workload.request import Request

BATCHING = (
    "sequential: llama-cpp-python's Llama runs one sequence at a time, so workload.batch_size does not "
    "batch requests; each request is one engine call (prompt evaluation, then one decode step per output token)"
)


def _file_type_names(llama_cpp) -> dict[int, str]:
    """general.file_type values -> names such as q4_k_m or f16, from the bindings' own constants."""
    names = {}
    for attr in dir(llama_cpp):
        if attr.startswith("LLAMA_FTYPE_") and attr != "LLAMA_FTYPE_GUESSED":
            short = attr.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
            names.setdefault(int(getattr(llama_cpp, attr)), short.lower())
    return names


class LlamaCppBackend(Backend):
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
        self.n_gpu_layers = s["n_gpu_layers"] if s["n_gpu_layers"] is not None else (-1 if self.device == "cuda" else 0)
        cpus = physical_cores()
        kwargs = {
            "model_path": str(self.gguf_path),
            "n_gpu_layers": self.n_gpu_layers,
            "n_ctx": context_length(s, w),
            "n_batch": s["n_batch"],
            "n_ubatch": s["n_ubatch"],
            "n_threads": s["n_threads"] or cpus,
            "n_threads_batch": s["n_threads_batch"] or s["n_threads"] or cpus,
            "flash_attn": s["flash_attn"],
            "use_mmap": s["use_mmap"],
            "seed": s["seed"],
            "logits_all": False,
            "verbose": False,
        }
        for key in ("type_k", "type_v"):
            if s[key] is not None:
                kwargs[key] = KV_CACHE_TYPES[s[key]]
        accepted = set(inspect.signature(llama_cpp.Llama.__init__).parameters)
        for key in s["llama_kwargs"]:
            if key not in accepted:  # Llama() swallows unknown keywords silently: refuse them instead
                raise UserError(f"backend.llama_kwargs.{key} is not an argument of llama_cpp.Llama() in llama-cpp-python {llama_cpp.__version__}: check the name.")
        kwargs.update(s["llama_kwargs"])
        self.llm = llama_cpp.Llama(**kwargs)
        self.file_type = self._file_type()
        if m.gguf_type and self.file_type != m.gguf_type.lower():
            raise UserError(f"model.gguf_type={m.gguf_type} does not match {self.gguf_path.name}, which is {self.file_type}: fix model.gguf_type or model.gguf.")
        self._scan_vocab()
        self._sampler = self._build_sampler()

    # ------------------------------------------------------------------ tokens

    def _file_type(self) -> str:
        raw = self.llm.metadata.get("general.file_type")
        if raw is None:
            return "unknown"
        return _file_type_names(self._lib).get(int(raw), f"file_type {raw}")

    def _scan_vocab(self) -> None:
        lib = self._lib
        vocab = lib.llama_model_get_vocab(self.llm.model)
        self._n_vocab = lib.llama_vocab_n_tokens(vocab)
        self.eog_ids = [t for t in range(self._n_vocab) if lib.llama_vocab_is_eog(vocab, t)]
        control = [t for t in range(self._n_vocab) if lib.llama_vocab_get_attr(vocab, t) & lib.LLAMA_TOKEN_ATTR_CONTROL]
        named = [lib.llama_vocab_bos(vocab), lib.llama_vocab_eos(vocab), lib.llama_vocab_pad(vocab)]
        self._special = sorted(set(self.eog_ids) | set(control) | {t for t in named if t >= 0})

    @classmethod
    def load_key(cls, spec) -> dict:
        return {"n_ctx": context_length(spec.backend, spec.workload)}

    def rebind(self, spec) -> None:
        super().rebind(spec)
        old, self._sampler = self._sampler, self._build_sampler()  # sampling settings may differ per job
        self._lib.llama_sampler_free(old)

    def encode(self, text: str) -> list[int]:
        # add_bos=True adds BOS only where the GGUF says the model wants it; special=True parses
        # special-token text as transformers does.
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    @property
    def vocab_size(self) -> int:
        return self._n_vocab

    def special_ids(self) -> list[int]:
        return list(self._special)

    # ------------------------------------------------------------------ sampling

    def _build_sampler(self):
        lib, sampling = self._lib, self.spec.workload.sampling
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if self.eog_ids:  # never end early: every request yields exactly output_tokens tokens
            self._bias = (lib.llama_logit_bias * len(self.eog_ids))()
            for i, token in enumerate(self.eog_ids):
                self._bias[i].token = token
                self._bias[i].bias = float("-inf")
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_logit_bias(self._n_vocab, len(self.eog_ids), self._bias))
        if sampling.temperature == 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            if sampling.top_k:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_k(sampling.top_k))
            if sampling.top_p < 1:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(sampling.top_p, 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(sampling.temperature))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(self.settings["seed"]))
        return chain

    def _run_one(self, prompt_ids: list[int], n_out: int) -> tuple[list[int], float, float]:
        """(output ids, time to first token, latency) for one request, from a clean context."""
        lib, llm = self._lib, self.llm
        llm.reset()  # n_tokens=0: eval() then drops the whole KV cache, so no prefix is re-used
        lib.llama_sampler_reset(self._sampler)  # same seed for every request
        t0 = time.perf_counter()
        llm.eval(prompt_ids)
        token = lib.llama_sampler_sample(self._sampler, llm.ctx, -1)
        ttft = time.perf_counter() - t0
        out = [token]
        while len(out) < n_out:
            llm.eval([token])
            token = lib.llama_sampler_sample(self._sampler, llm.ctx, -1)
            out.append(token)
        return out, ttft, time.perf_counter() - t0

    def generate(self, requests: list[Request]) -> Generation:
        n_out = self.spec.workload.output_tokens
        ins, outs, batches, out_ids = [], [], [], []
        for r in requests:
            if not r.input_ids:
                raise UserError(f"request {r.id} has no prompt tokens: llama.cpp needs at least one (check the workload's prompts).")
            ids, ttft, latency = self._run_one(r.input_ids, n_out)
            ins.append(len(r.input_ids))
            outs.append(len(ids))
            batches.append(BatchRecord(requests=1, input_tokens=len(r.input_ids), output_tokens=len(ids), latency_s=latency, ttft_s=ttft))
            out_ids.append(ids)
        return Generation(input_tokens=ins, output_tokens=outs, batches=batches, output_ids=out_ids)

    # ------------------------------------------------------------------ description

    def describe(self) -> dict:
        lib, llm, s = self._lib, self.llm, self.settings
        ctx, model = llm.ctx, llm.model
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
                "type_k": s["type_k"] or "f16",
                "type_v": s["type_v"] or "f16",
                "use_mmap": s["use_mmap"],
                "llama_kwargs": s["llama_kwargs"],
                "batching": BATCHING,
                "batch_size": 1,
                "fixed_length": "end-of-generation tokens get a -inf logit bias; output counted from sampled tokens",
                "sampling": "greedy" if sampling.temperature == 0 else
                            f"top_k={sampling.top_k or 'off'} top_p={sampling.top_p} temperature={sampling.temperature} seed={s['seed']}",
                "kv_cache_reuse": "none: the context is reset before every request",
                "kv_cache_dtype": s["type_k"] or "f16",
                **loaded_precision(self.gguf_path, llm.metadata, lib.llama_model_size(model), lib.llama_model_n_params(model)),
            },
            "model": {
                "gguf": str(self.gguf_path),
                "gguf_origin": self.gguf_origin,
                "gguf_type": self.file_type,
                "gguf_size_mib": Path(self.gguf_path).stat().st_size / 2**20,
                "description": self._model_desc(),
                "parameters": lib.llama_model_n_params(model),
                "n_layer": n_layer,
                "n_vocab": self._n_vocab,
                "n_ctx_train": lib.llama_model_n_ctx_train(model),
                "eog_token_ids": self.eog_ids,
                "weights": self.spec.model.weights,
            },
        }

    def _model_desc(self) -> str:
        import ctypes

        buf = ctypes.create_string_buffer(256)
        self._lib.llama_model_desc(self.llm.model, buf, ctypes.sizeof(buf))
        return buf.value.decode("utf-8", errors="replace")

    def close(self) -> None:
        sampler, self._sampler = getattr(self, "_sampler", None), None
        if sampler is not None:
            self._lib.llama_sampler_free(sampler)
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()
