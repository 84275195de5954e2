"""Harness overhead: the same model and workload through llem's measured window and through the
engine's own API called directly, interleaved A/B in one process (one model load).

Arm L (llem): exactly what llem.harness.offline does per window: synchronize, meter.begin, the backend's
generate (its grouping, fixed output length, per-batch timing and token counts), synchronize,
meter.end. Arm E (engine): the engine's own generation API on the same loaded engine, over the same
prompts with the same settings, with everything it needs prepared before its timer starts (so L/E
is an upper bound on llem's cost):

  pytorch   transformers `model.generate` per batch of workload.batch_size, padded tensors ready
  llamacpp  llama-cpp-python's own token loop `Llama.generate` (greedy, reset per request, so no
            prefix is re-used), stopped after workload.output_tokens tokens, one request at a time
  vllm      `LLM.generate` with `SamplingParams(ignore_eos, min_tokens = max_tokens)` over the same
            groups llem uses (all requests at once with batching=continuous), prefix cache reset
            before the timer

Pairs alternate EL/LE so drift falls on both.

    python benchmarks/harness_overhead.py [--backend pytorch] [--model tiny] [--pairs 10]
        [--batch-size 4] [--num-prompts 16] [--output-tokens 64] [--override key=value ...]

Prints tokens/s per arm and the ratio L/E with a 95% t-interval over pairs (1.0 = no cost).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def pytorch_engine(backend, spec, requests):
    import torch

    kw = backend._generate_kwargs()  # the same generate settings llem uses
    bs = spec.workload.batch_size
    batches = []
    for start in range(0, len(requests), bs):
        enc = backend.tokenizer.pad(
            {"input_ids": [r.input_ids for r in requests[start : start + bs]]}, padding=True, return_tensors="pt"
        )
        batches.append((enc["input_ids"].to(backend.input_device), enc["attention_mask"].to(backend.input_device)))

    def run() -> float:
        backend.synchronize()
        t0 = time.perf_counter()
        tokens = 0
        with torch.inference_mode():
            for ids, mask in batches:
                out = backend.model.generate(input_ids=ids, attention_mask=mask, **kw)
                tokens += (out.shape[1] - ids.shape[1]) * ids.shape[0]
        backend.synchronize()
        return tokens / (time.perf_counter() - t0)

    return run


def llamacpp_engine(backend, spec, requests):
    llm, n = backend.llm, spec.workload.output_tokens
    prompts = [list(r.input_ids) for r in requests]

    def run() -> float:
        t0 = time.perf_counter()
        tokens = 0
        for ids in prompts:
            llm.reset()  # n_tokens=0: generate() then evaluates the whole prompt, as llem does
            for i, _ in enumerate(llm.generate(ids, temp=0.0, repeat_penalty=1.0, reset=True), start=1):
                if i == n:
                    break
            tokens += i
        return tokens / (time.perf_counter() - t0)

    return run


def vllm_engine(backend, spec, requests):
    from vllm import SamplingParams

    from llem.backends.vllm.mapping import sampling_kwargs

    sampling = SamplingParams(**sampling_kwargs(spec))
    groups = [requests]
    if backend.settings.get("batching") == "static":
        bs = spec.workload.batch_size
        groups = [requests[i : i + bs] for i in range(0, len(requests), bs)]
    prompts = [[{"prompt_token_ids": list(r.input_ids)} for r in g] for g in groups]

    def run() -> float:
        backend.llm.reset_prefix_cache()
        t0 = time.perf_counter()
        tokens = 0
        for group in prompts:
            tokens += sum(len(o.outputs[0].token_ids) for o in backend.llm.generate(group, sampling, use_tqdm=False))
        return tokens / (time.perf_counter() - t0)

    return run


ENGINES = {"pytorch": pytorch_engine, "llamacpp": llamacpp_engine, "vllm": vllm_engine}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="pytorch", choices=sorted(ENGINES))
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--hardware", default="cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--num-prompts", type=int, default=16)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--override", action="append", default=[])
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_energy_proof import compose_spec

    from llem.energy import create_meter
    from llem.host.devices import resolve_device
    from llem.registry import backend_class
    from llem.results.stats import summarize
    from llem.workload.prompts import build_requests

    spec = compose_spec(
        [
            f"model={args.model}",
            f"hardware={args.hardware}",
            f"backend={args.backend}",
            "tracking=none",
            f"workload.batch_size={args.batch_size}",
            f"workload.num_prompts={args.num_prompts}",
            f"workload.output_tokens={args.output_tokens}",
            *args.override,
        ]
    )
    device = resolve_device(spec.hardware.device)
    gpus = list(range(spec.hardware.gpu_count)) if device == "cuda" else []
    backend = backend_class(spec.backend_name)(spec, device, gpus)
    backend.load()
    try:
        requests = build_requests(spec.workload, backend.encode, backend.vocab_size, backend.special_ids())
        meter = create_meter(spec.energy, device, gpus)
        engine_arm = ENGINES[args.backend](backend, spec, requests)

        def llem_arm() -> float:
            backend.synchronize()
            meter.begin("w")
            t0 = time.perf_counter()
            gen = backend.generate(requests)
            backend.synchronize()
            wall = time.perf_counter() - t0
            meter.end("w")
            return gen.total_output_tokens / wall

        llem_arm(), engine_arm()  # warm-up, both paths
        ratios, tl, te = [], [], []
        for i in range(args.pairs):
            if i % 2:
                l, e = llem_arm(), engine_arm()
            else:
                e, l = engine_arm(), llem_arm()
            tl.append(l), te.append(e), ratios.append(l / e)
        s = summarize(ratios)
        print(
            f"{args.backend}: {spec.model.name} on {device}, batch {spec.workload.batch_size} x {args.num_prompts} prompts "
            f"x {args.output_tokens} new tokens, {args.pairs} interleaved pairs, meter: {meter.describe().get('meter', '?')}"
        )
        print(f"engine API: {sum(te) / len(te):8.1f} tok/s   llem window: {sum(tl) / len(tl):8.1f} tok/s")
        print(
            f"llem / engine throughput: {s['mean']:.4f} (95% CI {s['ci95_low']:.4f}-{s['ci95_high']:.4f}), "
            f"CV of the ratio {100 * s['cv']:.1f}%; median ratio {sorted(ratios)[len(ratios) // 2]:.4f}"
        )
        print("ratio per pair (EL pairs even, LE odd): " + " ".join(f"{r:.3f}" for r in ratios))
    finally:
        backend.close()


if __name__ == "__main__":
    main()
