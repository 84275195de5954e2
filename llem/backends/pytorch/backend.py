"""transformers `generate` with fixed output lengths, left padding and explicit attention masks."""

from __future__ import annotations

import time

from llem.backends.base import Backend, BatchRecord, Generation
from llem.backends.kv_budget import bytes_per_token, kv_dtype, per_call
from llem.backends.pytorch.config import PyTorchConfig
from llem.models.loading import load_tokenizer, model_location, random_config
from llem.workload.request import Request


class PyTorchBackend(Backend[PyTorchConfig]):
    name = "pytorch"

    def load(self) -> None:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM

        s, m = self.settings, self.spec.model
        if s.num_threads and self.device == "cpu":
            torch.set_num_threads(s.num_threads)
        dtype = {
            "auto": torch.bfloat16 if self.device == "cuda" else torch.float32,
            "float32": torch.float32,
            "float16": torch.float16,
            "bfloat16": torch.bfloat16,
        }[s.dtype]
        target = "cuda:0" if self.device == "cuda" else "cpu"
        self.tokenizer, self.tokenizer_label = load_tokenizer(m)
        common = {"dtype": dtype, "attn_implementation": s.attn_implementation}
        if m.weights == "random":
            torch.manual_seed(m.seed)
            config = random_config(m)
            with torch.device(target):
                model = AutoModelForCausalLM.from_config(config, **common)
        else:
            kwargs = dict(common, revision=m.revision, trust_remote_code=m.trust_remote_code)
            if s.device_map:
                kwargs["device_map"] = s.device_map
            model = AutoModelForCausalLM.from_pretrained(model_location(m), **kwargs)
            if not s.device_map:
                model = model.to(target)
        model.eval()
        if s.torch_compile:
            model.forward = torch.compile(model.forward, mode=s.compile_mode or "default")
        self.model = model
        self.input_device = next(model.parameters()).device
        self.versions = {"transformers": transformers.__version__, "torch": torch.__version__}
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def reset_peaks(self) -> None:
        if self.device == "cuda":
            import torch

            for i in range(torch.cuda.device_count()):
                torch.cuda.reset_peak_memory_stats(i)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text)["input_ids"]

    @property
    def vocab_size(self) -> int:
        return min(len(self.tokenizer), self.model.config.vocab_size)

    def special_ids(self) -> list[int]:
        return list(self.tokenizer.all_special_ids)

    def _generate_kwargs(self) -> dict:
        w = self.spec.workload
        sampling = w.sampling
        kw = {
            "max_new_tokens": w.output_tokens,
            "min_new_tokens": w.output_tokens,  # suppresses EOS: every request yields exactly N tokens
            "pad_token_id": self.tokenizer.pad_token_id,
            "do_sample": sampling.temperature > 0,
        }
        if sampling.temperature > 0:
            kw.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k or None)
        else:  # greedy: neutralise sampling defaults a model's generation_config may carry
            kw.update(temperature=None, top_p=None, top_k=None)
        if self.settings.cache_implementation == "static":
            kw["cache_implementation"] = "static"
        return kw

    def generate(self, requests: list[Request]) -> Generation:
        import torch

        bs = self.spec.workload.batch_size
        kw = self._generate_kwargs()
        ins, outs, batches, out_ids = [], [], [], []
        for start in range(0, len(requests), bs):
            chunk = requests[start : start + bs]
            enc = self.tokenizer.pad({"input_ids": [r.input_ids for r in chunk]}, padding=True, return_tensors="pt")
            input_ids = enc["input_ids"].to(self.input_device)
            mask = enc["attention_mask"].to(self.input_device)
            self.synchronize()
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kw)
            self.synchronize()
            latency = time.perf_counter() - t0
            ids = self._new_ids(out[:, input_ids.shape[1] :].tolist())
            n_in = [len(r.input_ids) for r in chunk]
            n_out = [len(x) for x in ids]
            ins += n_in
            outs += n_out
            out_ids += ids
            batches.append(BatchRecord(requests=len(chunk), input_tokens=sum(n_in), output_tokens=sum(n_out), latency_s=latency))
        return Generation(input_tokens=ins, output_tokens=outs, batches=batches, output_ids=out_ids)

    def _new_ids(self, rows: list[list[int]]) -> list[list[int]]:
        """Each request's generated ids: up to and including its end-of-sequence token where it ended
        early (generate pads the rows that finished first), else the whole row."""
        eos = self.model.generation_config.eos_token_id
        ends = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        out = []
        for row in rows:
            cut = next((i + 1 for i, t in enumerate(row) if t in ends), len(row))
            out.append(row[:cut])
        return out

    def synchronize(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def describe(self) -> dict:
        import torch

        s, cfg = self.settings, self.model.config
        return {
            "engine": "transformers",
            "engine_version": self.versions["transformers"],
            "versions": self.versions,
            "effective_settings": {
                "dtype": str(self.model.dtype).removeprefix("torch."),
                "device": str(self.input_device),
                "device_map": s.device_map,
                "attn_implementation": getattr(cfg, "_attn_implementation", s.attn_implementation),
                "cache_implementation": s.cache_implementation,
                "torch_compile": s.torch_compile,
                "compile_mode": s.compile_mode,
                "num_threads": torch.get_num_threads() if self.device == "cpu" else None,
                "batch_size": self.spec.workload.batch_size,
                "batching": "static",  # one generate call per batch of workload.batch_size requests
                "padding_side": self.tokenizer.padding_side,
            },
            "kv_cache_budget": kv_cache_budget(cfg, str(self.model.dtype), s.cache_implementation),
            "model": {
                "class": type(self.model).__name__,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "tokenizer": self.tokenizer_label,
                "weights": self.spec.model.weights,
            },
        }

    def cuda_uuids(self):
        if self.device != "cuda":
            return None
        import torch

        # cudaDeviceProp.uuid of each logical device, as CUDA enumerates them in this process
        return [_gpu_uuid(str(torch.cuda.get_device_properties(i).uuid)) for i in range(len(self.gpus))]

    def memory(self) -> dict:
        if self.device != "cuda":
            return {}
        import torch

        return {
            f"gpu{i}_peak_allocated_mib": torch.cuda.max_memory_allocated(i) / 2**20 for i in range(torch.cuda.device_count())
        }

    def close(self) -> None:
        self.model = None
        if self.device == "cuda":
            import torch

            torch.cuda.empty_cache()


def _gpu_uuid(u: str) -> str:
    """torch prints a device UUID bare; NVML and CUDA_VISIBLE_DEVICES write it GPU-... (MIG-... for MIG)."""
    return u if u.startswith(("GPU-", "MIG-")) else f"GPU-{u}"


def kv_cache_budget(cfg, dtype: str, cache_implementation: str) -> dict:
    """transformers' cache is built by each generate call for that call's batch (dynamic: grown token by
    token; static: allocated for the call's batch and lengths): it never limits the batch."""
    heads = getattr(cfg, "num_attention_heads", None)
    head_dim = getattr(cfg, "head_dim", None) or (cfg.hidden_size // heads if heads else None)
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    name = kv_dtype(dtype)
    note = (
        "DynamicCache: grown by each generate call to its batch x (prompt + output) tokens, freed after it"
        if cache_implementation == "dynamic"
        else "StaticCache: a new one per generate call for its batch x (prompt + output) tokens, at least as long "
        "as the longest an earlier call allocated (transformers' _prepare_static_cache)"
    )
    return per_call(name, note, bytes_per_token(getattr(cfg, "num_hidden_layers", None), kv_heads, head_dim, name))
