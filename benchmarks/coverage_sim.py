"""Coverage of llem's 95% intervals by simulation: the Student-t CI over windows (llem/results/stats.py), the
uncertainty budget (llem/results/uncertainty.py) and the repeat-until-tight rule (llem/harness/repeat.py).

Each trial draws windows of J/token: true value MU, a systematic edge error e common to the trial's
windows (uniform over the range the windows' residual_j states, whose midpoint is not zero), and
window-to-window scatter of CV SIGMA: normal, or a standardised gamma of skewness 1 ("skewed"), and,
added since, of skewness -1 ("left-skewed", the mirror image) and 2 ("skewed 2", a stress case). The
CI should cover the windows' own expectation MU (1 + e); the budget, which knows the residual's range,
MU itself. llem's own functions compute every interval; numpy draws the data, scatter by scatter in
the order of --scatter, so the first two draw the same data as before the others were added.

    python benchmarks/coverage_sim.py [--trials 10000] [--seed 1] [--scatter normal,skewed,left-skewed,skewed2]

Prints one line per scenario: the coverage of each interval (goal 94-96%; binomial 2-sigma at 10k trials
is about +-0.44 points) and, for the sequential rule, the mean number of windows it took.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llem.config.spec import RunSpec  # noqa: E402
from llem.harness.repeat import keep_going  # noqa: E402
from llem.results.stats import summarize  # noqa: E402
from llem.results.uncertainty import field_budget  # noqa: E402

MU = 0.10  # J per output token
SIGMA = 0.02  # window-to-window CV
BIAS, HALF = 0.003, 0.005  # the edge residual: measured - true in [BIAS - HALF, BIAS + HALF] (relative)
TOKENS = 1000
FIELD = "energy_j_per_output_token"


SKEWNESS = {"normal": 0.0, "skewed": 1.0, "left-skewed": -1.0, "skewed2": 2.0}


def noise(rng, dist: str, shape: tuple) -> np.ndarray:
    """Standardised scatter (mean 0, sd 1) of the scatter's skewness."""
    g = SKEWNESS[dist]
    if g == 0:
        return rng.standard_normal(shape)
    k = 4.0 / (g * g)  # gamma(k): skewness 2 / sqrt(k)
    return math.copysign(1.0, g) * (rng.gamma(k, 1.0, shape) - k) / np.sqrt(k)


def windows_of(values: np.ndarray) -> list[dict]:
    low, high = (BIAS - HALF) * MU * TOKENS, (BIAS + HALF) * MU * TOKENS
    return [
        {FIELD: float(v), "output_tokens": TOKENS, "duration_s": 5.0, "energy": {"residual_j": {"low": low, "high": high}}}
        for v in values
    ]


def draw(rng, dist: str, trials: int, n: int) -> np.ndarray:
    e = rng.uniform(BIAS - HALF, BIAS + HALF, (trials, 1))  # systematic within a trial
    return MU * (1 + e) + MU * SIGMA * noise(rng, dist, (trials, n)), MU * (1 + e[:, 0])


def covered(values: np.ndarray, expectation: float, stage=None) -> tuple[bool, bool]:
    """Whether llem's CI holds the windows' expectation and its budget the true value (stage: the
    two-stage rule's first stage, as llem/results/schema.py passes it)."""
    s = summarize(list(values), stage)
    ci = s["ci95_low"] <= expectation <= s["ci95_high"]
    lo, hi = field_budget(windows_of(values), FIELD, False, {}, stage)["interval"]
    return ci, lo <= MU <= hi


def fixed(rng, dist: str, n: int, trials: int) -> dict:
    data, expect = draw(rng, dist, trials, n)
    hits = np.array([covered(row, ex) for row, ex in zip(data, expect)])
    return {"ci": hits[:, 0].mean(), "budget": hits[:, 1].mean(), "windows": float(n)}


def sequential(rng, dist: str, trials: int, repeats: int, target_pct: float, cap: int) -> dict:
    """run.repeats windows, then more while llem.harness.repeat.keep_going says so (two stages), up to run.max_repeats."""
    run = RunSpec(repeats=repeats, target_ci_pct=target_pct, max_repeats=cap)
    data, expect = draw(rng, dist, trials, cap)
    hits, used = [], []
    for row, ex in zip(data, expect):
        n = repeats
        while keep_going(run, [{FIELD: float(v)} for v in row[:n]], FIELD):
            n += 1
        used.append(n)
        hits.append(covered(row[:n], ex, repeats))
    hits = np.array(hits)
    return {"ci": hits[:, 0].mean(), "budget": hits[:, 1].mean(), "windows": float(np.mean(used))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scatter", default="normal,skewed,left-skewed,skewed2", help=f"comma-separated, of {', '.join(SKEWNESS)}")
    args = ap.parse_args(argv)
    dists = args.scatter.split(",")
    bad = [d for d in dists if d not in SKEWNESS]
    if bad:
        print(f"--scatter {bad[0]} is not one of {', '.join(SKEWNESS)}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(
        f"{args.trials} trials per scenario; CV {SIGMA:.0%}, edge residual {BIAS - HALF:+.1%}..{BIAS + HALF:+.1%} "
        f"(expected bias {BIAS:+.1%}); goal 94-96%"
    )
    print(f"{'scenario':42s} {'dist':11s} {'windows':>7s} {'CI':>7s} {'budget':>7s}")
    for dist in dists:
        for n in (3, 5, 10, 20):
            r = fixed(rng, dist, n, args.trials)
            print(f"{f'fixed {n} windows':42s} {dist:11s} {r['windows']:7.1f} {r['ci']:7.1%} {r['budget']:7.1%}")
        for target in (1.5, 3.0):
            r = sequential(rng, dist, args.trials, 3, target, 20)
            label = f"until CI <= {target:g}% (3..20 windows)"
            print(f"{label:42s} {dist:11s} {r['windows']:7.1f} {r['ci']:7.1%} {r['budget']:7.1%}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
