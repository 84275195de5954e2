"""Proof of llem's aligned window edges against an independent read of the same NVML counter.

An independent process opens NVML itself and polls the job GPU's total-energy counter as fast as
it can, timestamping every read on CLOCK_MONOTONIC (system-wide on Linux, so its times and llem's
share one axis). Meanwhile llem measures PyTorch windows of two classes, short (<= 1 s) and long
(>= 5 s), once with energy.align_edges=true and once with false, in the same run. For each window,
llem's joules are compared with the independent counter evaluated at llem's window edges
(Measurement.interval_monotonic_s) in two ways:

- linear: the poller's counter updates placed at their estimated times (midway between the two
  reads that straddle each update) and linearly interpolated. Where the power steps inside the
  update period around an edge (the work starting or ending), this reference is itself off by up
  to (P_busy - P_idle) x T / 4 per edge; on 100 ms updates at 600 W vs 120 W, ~12 J.
- edge: at each edge, the poller's own update nearest outside the window, less its own idle power
  (from its updates in the idle stretch before the window) times the gap: independent reads, times
  and idle power, with the same model of the edges as llem's (idle power after the synchronize).
  The poller also reports the post-work "tail": what the GPU drew above idle in the 0.5 s after
  each window, which is what that model leaves out.

Optionally (--vllm) a vLLM class at batch 64, the configuration that was power-capped on an H200:
its windows should carry a `throttled` flag. Printed: mean |error| per class, reference and
alignment; everything as JSON in --out.

    python benchmarks/gpu_alignment_proof.py --out alignment.json          # on the GPU machine
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


# --- the independent poller (its own process, its own NVML) ------------------------------------
def _open_nvml(fake_trace):
    if fake_trace:
        from llem.testing.fake_nvml import fake_from_env

        return fake_from_env(os.environ)
    import pynvml

    return pynvml


def _first_job_gpu(nvml):
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    first = cvd.split(",")[0].strip() if cvd else "0"
    return nvml.nvmlDeviceGetHandleByIndex(int(first)) if first.isdigit() else nvml.nvmlDeviceGetHandleByUUID(first)


def poll_counter(path: str, stop, ready, fake_trace) -> None:
    """Read the counter back to back; write one line per update: t_before_mid t_after_mid value_mj."""
    nvml = _open_nvml(fake_trace)
    nvml.nvmlInit()
    handle = _first_job_gpu(nvml)
    reads = 0
    with open(path, "w") as f:
        t0 = time.monotonic()
        last = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        last_mid = (t0 + time.monotonic()) / 2
        f.write(f"# first {last_mid!r} {last}\n")
        ready.set()
        while not stop.is_set():
            a = time.monotonic()
            v = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            mid = (a + time.monotonic()) / 2
            reads += 1
            if v != last:
                f.write(f"{last_mid!r} {mid!r} {v}\n")
                f.flush()
                last = v
            last_mid = mid
            if fake_trace:
                time.sleep(0.0005)  # a replayed read is nearly free: do not spin a shared CPU core
        f.write(f"# reads {reads} seconds {time.monotonic() - t0!r}\n")
    nvml.nvmlShutdown()


class Poller:
    def __init__(self, path: Path, fake_trace):
        ctx = mp.get_context("spawn")
        self.path, self.stop, ready = path, ctx.Event(), ctx.Event()
        self.proc = ctx.Process(target=poll_counter, args=(str(path), self.stop, ready, fake_trace), daemon=True)
        self.proc.start()
        if not ready.wait(60):
            raise RuntimeError("the independent poller did not start")

    def finish(self) -> "Ticks":
        self.stop.set()
        self.proc.join(30)
        return Ticks.load(self.path)


class Ticks:
    """The poller's counter updates: (estimated time, +/- half-width, value in J)."""

    def __init__(self, times, half, joules, reads, seconds):
        self.t, self.half, self.j, self.reads, self.seconds = times, half, joules, reads, seconds

    @classmethod
    def load(cls, path: Path) -> "Ticks":
        t, half, j, reads, seconds = [], [], [], None, None
        for line in Path(path).read_text().splitlines():
            if line.startswith("# reads"):
                _, _, reads, _, seconds = line.split()
                continue
            if line.startswith("#"):
                continue
            a, b, v = line.split()
            t.append((float(a) + float(b)) / 2)
            half.append((float(b) - float(a)) / 2)
            j.append(int(v) / 1000.0)
        return cls(t, half, j, int(reads) if reads else None, float(seconds) if seconds else None)

    def linear(self, t: float):
        i = bisect.bisect_right(self.t, t)
        if i == 0 or i >= len(self.t):
            return None
        t0, t1 = self.t[i - 1], self.t[i]
        return self.j[i - 1] + (self.j[i] - self.j[i - 1]) * (t - t0) / (t1 - t0)

    def power(self, a: float, b: float):
        """Mean power from the updates inside [a, b]."""
        i, k = bisect.bisect_left(self.t, a), bisect.bisect_right(self.t, b) - 1
        if k - i < 1:
            return None
        return (self.j[k] - self.j[i]) / (self.t[k] - self.t[i])

    def edge(self, start: float, end: float, idle_w: float):
        i, k = bisect.bisect_right(self.t, start) - 1, bisect.bisect_left(self.t, end)
        if i < 0 or k >= len(self.t):
            return None
        return self.j[k] - self.j[i] - idle_w * (start - self.t[i]) - idle_w * (self.t[k] - end)

    def gaps(self):
        return [b - a for a, b in zip(self.t, self.t[1:])]


# --- llem runs ------------------------------------------------------------------------------------
def compose_spec(overrides):
    from gpu_energy_proof import compose_spec as compose

    return compose(overrides)


def overrides(args, cls: dict, align: bool, tokens: int, repeats: int) -> list[str]:
    o = [
        f"model={args.model}",
        f"hardware={args.hardware}",
        f"backend={cls['backend']}",
        "tracking=none",
        "workload=synthetic",
        f"workload.input_tokens={args.input_tokens}",
        f"workload.output_tokens={tokens}",
        f"workload.batch_size={cls['batch_size']}",
        f"workload.num_prompts={cls['batch_size']}",
        f"run.repeats={repeats}",
        "run.warmup=1",
        f"run.cooldown_s={args.cooldown_s}",
        "run.isolation=inline",
        "run.min_window_s=0",
        "run.cooldown_mode=fixed",  # one pass per window: the window classes are the point
        f"energy={args.energy}",
        f"energy.baseline_s={args.baseline_s}",
        "energy.sampler=true",
        f"energy.align_edges={'true' if align else 'false'}",
    ]
    if args.weights:
        o.append(f"model.weights={args.weights}")
    return o + list(cls.get("override", [])) + list(args.override)


def tokens_for(args, cls: dict, warm, work: Path) -> int:
    """Output tokens that make this class's window last about its target (one calibration window)."""
    from llem.run.job import measure

    probe = cls["probe_tokens"]
    spec = compose_spec(overrides(args, cls, True, probe, 1) + ["energy.baseline_s=0", "energy.sampler=false"])
    m = measure(spec, work / f"calibrate-{cls['name']}", warm=warm).to_dict()
    seconds = m["windows"][0]["duration_s"]
    return max(2, min(args.max_tokens, round(probe * cls["target_s"] / seconds)))


def compare(w: dict, ticks: Ticks, cooldown_s: float) -> dict:
    m = w["energy"]
    llem_j = (m.get("energy_j") or {}).get("gpu0")
    a, b = m.get("interval_monotonic_s") or (None, None)
    row = {
        "index": w["index"],
        "duration_s": w["duration_s"],
        "llem_j": llem_j,
        "interval": [a, b],
        "alignment": (m.get("alignment") or {}).get("gpu0"),
        "residual_j": m.get("residual_j"),
    }
    if llem_j is None or a is None:
        return dict(row, reason=m.get("reason") or "no interval")
    lin0, lin1 = ticks.linear(a), ticks.linear(b)
    idle = ticks.power(a - max(cooldown_s, 0.3), a - 0.02) or ticks.power(b + 0.3, b + 0.3 + max(cooldown_s, 0.3))
    row["ref_linear_j"] = None if lin0 is None or lin1 is None else lin1 - lin0
    row["ref_idle_w"] = idle
    row["ref_edge_j"] = None if idle is None else ticks.edge(a, b, idle)
    after = ticks.power(b, b + 0.5)
    row["tail_excess_j"] = None if after is None or idle is None else (after - idle) * 0.5
    for ref in ("linear", "edge"):
        r = row[f"ref_{ref}_j"]
        row[f"error_{ref}"] = None if not r else (llem_j - r) / r
    return row


def summarize(rows: list[dict], ref: str) -> dict:
    errs = [r[f"error_{ref}"] for r in rows if r.get(f"error_{ref}") is not None]
    if not errs:
        return {"n": 0}
    return {
        "n": len(errs),
        "mean_abs": statistics.mean(abs(e) for e in errs),
        "max_abs": max(abs(e) for e in errs),
        "mean": statistics.mean(errs),
    }


def classes(args) -> list[dict]:
    out = [
        {
            "name": "short",
            "backend": "pytorch",
            "batch_size": args.short_batch,
            "target_s": args.short_s,
            "probe_tokens": 16,
            "tokens": args.short_tokens,
        },
        {
            "name": "long",
            "backend": "pytorch",
            "batch_size": args.long_batch,
            "target_s": args.long_s,
            "probe_tokens": 32,
            "tokens": args.long_tokens,
        },
    ]
    if args.vllm:
        out.append(
            {
                "name": "vllm_bs64",
                "backend": "vllm",
                "batch_size": 64,
                "target_s": args.long_s,
                "probe_tokens": 64,
                "override": ["backend.gpu_memory_utilization=0.5"],
            }
        )
    return out


def run_class(args, cls, warm, work: Path) -> list[dict]:
    from llem.run.job import measure

    tokens = cls.get("tokens") or tokens_for(args, cls, warm, work)
    runs = []
    for align in (True, False):
        spec = compose_spec(overrides(args, cls, align, tokens, args.repeats))
        print(
            f"== {cls['name']}: {cls['backend']} batch {cls['batch_size']} x {tokens} tokens, "
            f"align_edges={align}, {args.repeats} windows",
            flush=True,
        )
        measured = measure(
            spec, work / f"{cls['name']}-align-{align}", warm=warm, progress=lambda msg: print(f"   {msg}", flush=True)
        ).to_dict()
        runs.append({"class": cls["name"], "align": align, "output_tokens": tokens, "measured": measured})
    return runs


def report(runs: list[dict], ticks: Ticks, cooldown_s: float) -> list[dict]:
    out = []
    print(
        f"\n{'class':<10} {'align':<6} {'n':>3} {'dur s':>7} {'mean|err| lin':>14} {'max':>8} "
        f"{'mean|err| edge':>15} {'max':>8} {'bias edge':>10} {'tail J':>7}"
    )
    for r in runs:
        rows = [compare(w, ticks, cooldown_s) for w in r["measured"]["windows"]]
        lin, edge = summarize(rows, "linear"), summarize(rows, "edge")
        tails = [x["tail_excess_j"] for x in rows if x.get("tail_excess_j") is not None]
        dur = statistics.mean(x["duration_s"] for x in rows)

        def pct(s, k):
            return "n/a" if not s.get("n") else f"{100 * s[k]:.3f}%"

        print(
            f"{r['class']:<10} {str(r['align']):<6} {len(rows):>3} {dur:>7.2f} {pct(lin, 'mean_abs'):>14} "
            f"{pct(lin, 'max_abs'):>8} {pct(edge, 'mean_abs'):>15} {pct(edge, 'max_abs'):>8} "
            f"{pct(edge, 'mean'):>10} {(statistics.mean(tails) if tails else float('nan')):>7.2f}"
        )
        out.append(
            {
                "class": r["class"],
                "align_edges": r["align"],
                "output_tokens": r["output_tokens"],
                "windows": rows,
                "linear": lin,
                "edge": edge,
                "flags": r["measured"]["flags"],
                "baseline": {k: r["measured"]["baseline"].get(k) for k in ("power_w", "drift_w", "power_w_half_width")},
            }
        )
    for r in out:
        for f in r["flags"]:
            if f.split(": ", 2)[-1].startswith("throttled") or "throttled:" in f:
                print(f"   {r['class']} align={r['align_edges']}: {f}")
    return out


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="llama3.2-1b")
    ap.add_argument("--weights", default="random", help="model.weights override ('' for none)")
    ap.add_argument("--hardware", default="cuda")
    ap.add_argument("--energy", default="nvml")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--input-tokens", type=int, default=128)
    ap.add_argument("--short-s", type=float, default=0.8, help="target length of the short windows")
    ap.add_argument("--long-s", type=float, default=6.0, help="target length of the long windows")
    ap.add_argument("--short-batch", type=int, default=1)
    ap.add_argument("--long-batch", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--short-tokens", type=int, default=0, help="output tokens of a short window (0: calibrate)")
    ap.add_argument("--long-tokens", type=int, default=0, help="output tokens of a long window (0: calibrate)")
    ap.add_argument("--cooldown-s", type=float, default=1.5, help="idle between windows (the poller's idle power)")
    ap.add_argument("--baseline-s", type=float, default=3.0)
    ap.add_argument("--vllm", action="store_true", help="add vLLM at batch 64 (power-capped on an H200)")
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--override", action="append", default=[], help="extra Hydra override (repeatable)")
    ap.add_argument("--fake-nvml-trace", default=None, help="TEST ONLY: replay this NVML trace instead of a GPU")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    started = time.time()
    if args.fake_nvml_trace:  # every process (llem, its sampler, the poller) replays the same moment
        os.environ["LLEM_FAKE_NVML_TRACE"] = args.fake_nvml_trace
        os.environ["LLEM_FAKE_NVML_EPOCH"] = repr(time.monotonic())
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    from llem.harness.warm import WarmEngines
    from llem.run.envinfo import snapshot

    work = Path(args.work_dir or Path(args.out).resolve().parent / "alignment-runs")
    work.mkdir(parents=True, exist_ok=True)
    poller = Poller(work / "poller.txt", args.fake_nvml_trace)
    runs = []
    try:
        for cls in classes(args):
            warm = WarmEngines()
            try:
                runs += run_class(args, cls, warm, work)
            finally:
                warm.close()
    finally:
        ticks = poller.finish()
    gaps = ticks.gaps()
    print(
        f"independent poller: {ticks.reads} reads in {ticks.seconds:.1f} s "
        f"({1e3 * ticks.seconds / max(ticks.reads or 1, 1):.2f} ms a read), {len(ticks.t)} counter updates, "
        f"median gap {1e3 * statistics.median(gaps):.1f} ms, max {1e3 * max(gaps):.1f} ms"
    )
    results = report(runs, ticks, args.cooldown_s)
    env = snapshot()
    doc = {
        "date_unix_s": started,
        "duration_s": time.time() - started,
        "args": vars(args),
        "gpus": env.get("gpus"),
        "environment": env,
        "poller": {
            "reads": ticks.reads,
            "seconds": ticks.seconds,
            "updates": len(ticks.t),
            "median_gap_s": statistics.median(gaps),
            "max_gap_s": max(gaps),
        },
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
