"""Proof of llem's GPU energy figures on a real GPU.

Runs llem's own harness (PyTorch backend, a random-weight Llama-3.2-1B-shaped model, synthetic
prompts) at several batch sizes and, for the SAME windows, reads the NVML energy counter through
an independent code path (pynvml directly, its own device lookup) and through Zeus's ZeusMonitor
when Zeus is importable. Both observers read right after llem at each window edge, so their windows
have llem's length shifted by a few milliseconds: llem must agree with the raw counter to within
one counter step per edge (two per window).

    python benchmarks/gpu_energy_proof.py --out proof.json            # on the GPU machine

Prints a table and writes every figure as JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


class RawNvmlWindows:
    """The job GPU's energy counter read with pynvml directly, not through llem's meter."""

    name = "raw_nvml"

    def __init__(self, nvml):
        self.nvml = nvml
        nvml.nvmlInit()
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        first = cvd.split(",")[0].strip() if cvd else "0"
        if first.isdigit():
            self.handle = nvml.nvmlDeviceGetHandleByIndex(int(first))
        else:
            self.handle = nvml.nvmlDeviceGetHandleByUUID(first)
        self.open, self.windows = {}, {}

    def begin(self, window):
        self.open[window] = (time.perf_counter(), nvml_mj(self.nvml, self.handle))

    def end(self, window):
        t1, e1 = time.perf_counter(), nvml_mj(self.nvml, self.handle)
        t0, e0 = self.open.pop(window)
        self.windows[window] = {"energy_j": (e1 - e0) / 1000.0, "duration_s": t1 - t0, "begin_mj": e0, "end_mj": e1}


def nvml_mj(nvml, handle) -> int:
    return int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))


class ZeusWindows:
    """Zeus's ZeusMonitor on the job's first GPU (llem synchronises the device, so Zeus need not)."""

    name = "zeus"

    def __init__(self):
        ZeusMonitor = _import_zeus_monitor()

        self.monitor = ZeusMonitor(gpu_indices=[0], cpu_indices=[])
        self.windows = {}

    def begin(self, window):
        self.monitor.begin_window(window, sync_execution=False)

    def end(self, window):
        m = self.monitor.end_window(window, sync_execution=False)
        self.windows[window] = {"energy_j": sum(m.gpu_energy.values()), "duration_s": m.time}


def _import_zeus_monitor():
    """ZeusMonitor. Zeus imports sklearn.metrics.auc at module level, only to integrate polled power
    on pre-Volta GPUs (Volta and newer use the energy counter, as here). The GPU machine has no
    scikit-learn: where it is missing, a trapezoid-rule `auc` stands in while Zeus is imported, and
    is removed from sys.modules right after so nothing else (torch, transformers) ever sees it."""
    import importlib.machinery
    import importlib.util
    import types

    if "sklearn" in sys.modules or importlib.util.find_spec("sklearn") is not None:
        from zeus.monitor import ZeusMonitor

        return ZeusMonitor

    def auc(x, y):
        return float(sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(x, x[1:], y, y[1:])))

    stubs = {}
    for name in ("sklearn", "sklearn.metrics"):
        stubs[name] = types.ModuleType(name)
        stubs[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
    stubs["sklearn.metrics"].auc = auc
    stubs["sklearn"].metrics = stubs["sklearn.metrics"]
    sys.modules.update(stubs)
    try:
        from zeus.monitor import ZeusMonitor
    finally:
        for name, mod in stubs.items():
            if sys.modules.get(name) is mod:
                del sys.modules[name]
    return ZeusMonitor


def compose_spec(overrides: list[str]):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    return build_spec(OmegaConf.to_container(cfg, resolve=True))


def base_overrides(args) -> list[str]:
    o = [
        f"model={args.model}",
        f"hardware={args.hardware}",
        "backend=pytorch",
        "tracking=none",
        "workload=synthetic",
        f"workload.input_tokens={args.input_tokens}",
        f"run.repeats={args.repeats}",
        "run.warmup=1",
        f"run.cooldown_s={args.cooldown_s}",
        "run.isolation=inline",
        f"energy={args.energy}",
        f"energy.baseline_s={args.baseline_s}",
        "energy.sampler=true",
    ]
    if args.weights:
        o.append(f"model.weights={args.weights}")
    return o + list(args.override)


def output_tokens_for(bs: int, args) -> int:
    return args.output_tokens if args.output_tokens else (128 if bs == 1 else 256)


def compare(measured: dict, observers: list) -> dict:
    """Per window: llem's joules, each observer's, and the difference in J and in counter steps."""
    from llem.results.stats import summarize

    meter = measured["meter"]
    period = _update_period(meter)
    rows = []
    for w in measured["windows"]:
        name = f"window-{w['index']}"
        m = w["energy"]
        row = {
            "window": name,
            "duration_s": w["duration_s"],
            "output_tokens": w["output_tokens"],
            "llem_j": m["total_j"],
            "llem_gpu_j": (m["energy_j"] or {}).get("gpu0"),
            "j_per_output_token": w["energy_j_per_output_token"],
            "avg_power_w": w["avg_power_w"],
            "dynamic_j_per_output_token": w["dynamic_energy_j_per_output_token"],
            "output_tokens_per_s": w["output_tokens_per_s"],
            "llem_raw": m.get("raw"),
        }
        for o in observers:
            ow = o.windows.get(name)
            row[f"{o.name}_j"] = None if ow is None else ow["energy_j"]
        # With aligned edges (energy.align_edges) llem removes idle energy at its edges; the observer
        # reads the bare counter, so it is compared with llem's own counter reads (benchmarks/
        # gpu_alignment_proof.py measures what the corrections gain).
        raw_gpu = (m.get("raw") or {}).get("gpu0") or {}
        llem_gpu = (
            (raw_gpu["end"] - raw_gpu["begin"]) / 1000.0
            if row["llem_gpu_j"] is not None and raw_gpu.get("end") is not None
            else None
        )
        row["llem_counter_j"] = llem_gpu
        row["llem_edge_corrections_j"] = None if llem_gpu is None else row["llem_gpu_j"] - llem_gpu
        raw = row.get("raw_nvml_j")
        if llem_gpu is not None and raw is not None:
            step_j = (llem_gpu / w["duration_s"]) * period if period else None
            row["diff_j"] = llem_gpu - raw
            row["counter_step_j"] = step_j
            row["diff_steps"] = abs(row["diff_j"]) / step_j if step_j else None
            row["agrees"] = row["diff_steps"] is not None and row["diff_steps"] <= 2.0 + 1e-9
        rows.append(row)
    per_tok = [r["j_per_output_token"] for r in rows]
    return {
        "windows": rows,
        "j_per_output_token": summarize(per_tok),
        "output_tokens_per_s": summarize([r["output_tokens_per_s"] for r in rows]),
        "update_period_s": period,
        "baseline": measured["baseline"],
        "timeseries": measured["timeseries"],
        "flags": measured["flags"],
        "all_agree": all(r.get("agrees") for r in rows) if rows else False,
    }


def _update_period(meter: dict):
    if meter.get("update_period_s"):
        return meter["update_period_s"]
    for p in meter.get("parts", []):
        if p.get("update_period_s"):
            return p["update_period_s"]
    return None


def print_table(results: list[dict]) -> None:
    print(
        f"\n{'bs':>4} {'win':>4} {'dur s':>7} {'llem J':>9} {'raw J':>9} {'zeus J':>9} {'diff J':>8} "
        f"{'steps':>6} {'J/tok':>9} {'tok/s':>8}"
    )
    for r in results:
        for w in r["windows"]:

            def f(v, spec):
                return "n/a" if v is None else format(v, spec)

            print(
                f"{r['batch_size']:>4} {w['window'][-1]:>4} {w['duration_s']:>7.2f} {f(w['llem_j'], '9.2f')} "
                f"{f(w.get('raw_nvml_j'), '9.2f')} {f(w.get('zeus_j'), '9.2f')} {f(w.get('diff_j'), '8.3f')} "
                f"{f(w.get('diff_steps'), '6.2f')} {f(w['j_per_output_token'], '9.4f')} {w['output_tokens_per_s']:>8.1f}"
            )
        s = r["j_per_output_token"]
        if s is None:  # no window was long enough for the counter: nothing to average (never 0)
            print(
                f"     bs {r['batch_size']}: J/token not measured (every window shorter than one counter update); "
                f"agreement within 2 counter steps: {r['all_agree']}"
            )
            continue
        cv = "n/a" if s["cv"] is None else f"{s['cv']:.1%}"
        print(
            f"     bs {r['batch_size']}: J/token mean {s['mean']}, CV {cv} over {s['n']} repeats; "
            f"agreement within 2 counter steps: {r['all_agree']}"
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON output path")
    ap.add_argument("--model", default="llama3.2-1b")
    ap.add_argument("--weights", default="random", help="model.weights override ('' for none)")
    ap.add_argument("--hardware", default="cuda")
    ap.add_argument("--energy", default="nvml")
    ap.add_argument("--batch-sizes", default="1,8,64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--input-tokens", type=int, default=128)
    ap.add_argument("--output-tokens", type=int, default=0, help="0: 128 at batch 1, 256 above")
    ap.add_argument("--cooldown-s", type=float, default=2.0)
    ap.add_argument("--baseline-s", type=float, default=3.0)
    ap.add_argument("--budget-s", type=float, default=300.0, help="skip remaining batch sizes past this")
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--override", action="append", default=[], help="extra Hydra override (repeatable)")
    ap.add_argument("--fake-nvml-trace", default=None, help="TEST ONLY: replay this NVML trace instead of a GPU")
    args = ap.parse_args(argv)

    started = time.time()
    if args.fake_nvml_trace:
        os.environ["LLEM_FAKE_NVML_TRACE"] = args.fake_nvml_trace
        from llem.testing.fake_nvml import FakeNvml

        nvml = FakeNvml.from_csv(args.fake_nvml_trace)
    else:
        import pynvml as nvml

    from observed_meter import observe_windows

    from llem.run.envinfo import snapshot
    from llem.run.job import measure

    raw = RawNvmlWindows(nvml)
    observers = [raw]
    zeus_status = {"available": False, "reason": None}
    try:
        observers.append(ZeusWindows())
        zeus_status["available"] = True
    except Exception as exc:  # not installed, or cannot start here
        zeus_status["reason"] = f"{type(exc).__name__}: {exc}"
    observe_windows(observers)  # each window's edges read by the observers right after llem's own reads

    work = Path(args.work_dir or Path(args.out).resolve().parent / "proof-runs")
    results, skipped = [], []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        if time.time() - started > args.budget_s:
            skipped.append(bs)
            continue
        out_tokens = output_tokens_for(bs, args)
        spec = compose_spec(
            base_overrides(args)
            + [f"workload.batch_size={bs}", f"workload.num_prompts={bs}", f"workload.output_tokens={out_tokens}"]
        )
        for o in observers:
            o.windows.clear()
        print(f"== batch {bs}: {bs} prompts x {args.input_tokens} in / {out_tokens} out, {args.repeats} repeats", flush=True)
        measured = measure(spec, work / f"bs{bs}", progress=lambda msg: print(f"   {msg}", flush=True)).to_dict()
        r = compare(measured, observers)
        r.update(
            batch_size=bs,
            output_tokens=out_tokens,
            run_dir=str(work / f"bs{bs}"),
            engine=measured["engine"],
            meter=measured["meter"],
        )
        results.append(r)

    print_table(results)
    env = snapshot()
    doc = {
        "date_unix_s": started,
        "duration_s": time.time() - started,
        "args": vars(args),
        "gpus": env.get("gpus"),
        "environment": env,
        "zeus": zeus_status,
        "results": results,
        "skipped_batch_sizes": skipped,
        "all_agree": bool(results) and all(r["all_agree"] for r in results),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1, default=str))
    print(f"\nzeus: {'used' if zeus_status['available'] else 'not used: ' + str(zeus_status['reason'])}")
    print(f"llem vs raw NVML counter, every window within one step per edge: {doc['all_agree']}")
    print(f"wrote {args.out}")
    return 0 if doc["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
