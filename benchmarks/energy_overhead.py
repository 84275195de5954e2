"""What measuring energy costs in throughput: energy=none vs energy=nvml (+ sampler), A/B in one process.

One model load; then rounds of identical windows, rotating which arm goes first (ABC, BCA, CAB) so
drift (clocks, temperature) falls on both arms alike. Arm A runs the work bare. Arm B runs it as
llem measures a window: the time-series sampler process running, a device synchronize and an
NVML counter read at each edge. Each arm's time spans its whole window, edges included.

    python benchmarks/energy_overhead.py --out overhead.json            # on the GPU machine

Prints the throughput ratio B/A (1.0 = no cost) with a 95% CI over the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _window(backend, requests, meter=None) -> tuple[float, int]:
    backend.synchronize()
    t0 = time.perf_counter()
    if meter is not None:
        meter.begin("w")
    gen = backend.generate(requests)
    backend.synchronize()
    if meter is not None:
        meter.end("w")
    return time.perf_counter() - t0, gen.total_output_tokens


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="llama3.2-1b")
    ap.add_argument("--weights", default="random")
    ap.add_argument("--hardware", default="cuda")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--input-tokens", type=int, default=128)
    ap.add_argument("--output-tokens", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--override", action="append", default=[])
    ap.add_argument("--fake-nvml-trace", default=None, help="TEST ONLY: replay this NVML trace instead of a GPU")
    args = ap.parse_args(argv)
    if args.fake_nvml_trace:
        os.environ["LLEM_FAKE_NVML_TRACE"] = args.fake_nvml_trace

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_energy_proof import compose_spec

    from llem.energy import create_meter, start_sampler
    from llem.host.devices import resolve_device
    from llem.registry import backend_class
    from llem.results.stats import summarize
    from llem.workload.prompts import build_requests

    o = [
        f"model={args.model}",
        f"hardware={args.hardware}",
        "backend=pytorch",
        "tracking=none",
        "workload=synthetic",
        f"workload.batch_size={args.batch_size}",
        f"workload.num_prompts={args.batch_size}",
        f"workload.input_tokens={args.input_tokens}",
        f"workload.output_tokens={args.output_tokens}",
        "energy=nvml",
        "energy.sampler=true",
    ] + ([f"model.weights={args.weights}"] if args.weights else [])
    spec = compose_spec(o + list(args.override))
    device = resolve_device(spec.hardware.device)
    gpus = list(range(spec.hardware.gpu_count)) if device == "cuda" else []
    backend = backend_class(spec.backend_name)(spec, device, gpus)
    print(f"loading {spec.model.name} ({device})", flush=True)
    backend.load()
    requests = build_requests(spec.workload, backend.encode, backend.vocab_size, backend.special_ids())
    meter = create_meter(spec.energy, device, gpus)
    run_dir = Path(tempfile.mkdtemp(prefix="llem-overhead-"))
    _window(backend, requests)  # warmup at full length
    # Arms: A bare; B as llem measures (sampler process + counter reads at the edges); C counter reads
    # only (sampler off), to separate the two costs. The order rotates so drift falls on all arms.
    tps = {"A": [], "B": [], "C": []}
    sampler_summaries = []
    orders = ["ABC", "BCA", "CAB"]
    try:
        for i in range(args.pairs):
            order = orders[i % 3]
            got = {}
            for arm in order:
                if arm == "A":
                    dt, toks = _window(backend, requests)
                elif arm == "C":
                    dt, toks = _window(backend, requests, meter)
                else:
                    sampler = start_sampler(spec.energy, device, gpus, run_dir)
                    try:
                        dt, toks = _window(backend, requests, meter)
                    finally:
                        if sampler is not None:
                            sampler_summaries.append(sampler.stop())
                got[arm] = toks / dt
            for arm in "ABC":
                tps[arm].append(got[arm])
            print(
                f"round {i + 1}/{args.pairs} ({order}): none {got['A']:.1f}, nvml+sampler {got['B']:.1f}, "
                f"nvml only {got['C']:.1f} tok/s",
                flush=True,
            )
    finally:
        meter.close()
        backend.close()
    ratios = [b / a for a, b in zip(tps["A"], tps["B"])]
    ratios_c = [c / a for a, c in zip(tps["A"], tps["C"])]
    r, rc = summarize(ratios), summarize(ratios_c)
    doc = {
        "args": vars(args),
        "device": device,
        "meter": meter.describe(),
        "none_tokens_per_s": summarize(tps["A"]),
        "nvml_sampler_tokens_per_s": summarize(tps["B"]),
        "nvml_only_tokens_per_s": summarize(tps["C"]),
        "ratio_nvml_over_none": r,
        "ratios": ratios,
        "ratio_nvml_only_over_none": rc,
        "ratios_nvml_only": ratios_c,
        "median_ratio_nvml_over_none": sorted(ratios)[len(ratios) // 2],
        "sampler": sampler_summaries[-1:] or None,
        "slowdown_pct": None if r["mean"] is None else (1 - r["mean"]) * 100,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1, default=str))
    for label, s in (("nvml+sampler", r), ("nvml only", rc)):
        ci = "" if s["ci95_low"] is None else f" (95% CI {s['ci95_low']:.4f}-{s['ci95_high']:.4f})"
        print(
            f"throughput ratio energy={label} / energy=none: mean {s['mean']:.4f}{ci}; "
            f"slowdown {(1 - s['mean']) * 100:.2f}% over {s['n']} rounds"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
