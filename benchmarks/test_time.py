"""Where the test suite's time goes, from the per-test timings tests/conftest.py writes when
LLEM_TEST_TIMINGS is set (docs/testing.md):

    LLEM_TEST_TIMINGS=/tmp/times.jsonl .venv/bin/python -m pytest -q tests ...
    .venv/bin/python benchmarks/test_time.py /tmp/times.jsonl [--top 30]

Prints markdown: the slowest tests (setup + call + teardown) with the llem processes they ran
and their largest fixture, the slowest fixtures, and a breakdown of the whole time into llem runs
(`python -m llem` end to end: process start-up, engine load, measurement), fixture set-ups by kind
(services and servers, images, shared llem runs), sleeps in the pytest process, and the rest."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

# Fixture names by what their set-up does (anything else: "other fixtures").
KINDS = {
    "service or server start": {
        "mlflow_server",
        "postgres_mlflow",
        "own_server",
        "server",
        "browser",
        "slurm",
        "dockerd",
        "paced_url",
        "replay_url",
        "merged_run",
    },
    "image build": {"docker"},
}


def kind_of(fixture: str) -> str:
    return next((k for k, names in KINDS.items() if fixture in names), "other fixtures (shared llem runs, models)")


def load(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def total(row: dict) -> float:
    return row.get("setup_s", 0) + row.get("call_s", 0) + row.get("teardown_s", 0)


def report(rows: list[dict], top: int) -> str:
    out = []
    wall = sum(total(r) for r in rows)
    out.append(
        f"{len(rows)} tests, {wall:.0f} s in setup + call + teardown "
        f"({sum(total(r) for r in rows if r.get('quick')):.0f} s in the {sum(1 for r in rows if r.get('quick'))} quick ones)\n"
    )
    out.append("| # | test | s | setup s | llem runs (s) | sleep s | largest fixture (s) |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for i, r in enumerate(sorted(rows, key=total, reverse=True)[:top], 1):
        big = max(r["fixtures"], key=lambda f: f["s"], default=None)
        fixture = f"{big['name']} ({big['s']:.1f})" if big and big["s"] >= 0.5 else ""
        llem = f"{r.get('llem_runs', 0)} ({r.get('llem_s', 0):.0f})" if r.get("llem_runs") else ""
        out.append(
            f"| {i} | `{r['test']}` | {total(r):.1f} | {r.get('setup_s', 0):.1f} | {llem} | "
            f"{r.get('sleep_s', 0):.1f} | {fixture} |"
        )
    fixtures: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        for f in r["fixtures"]:
            fixtures[(f["name"], f["scope"])].append(f["s"])
    out.append("\n| fixture | scope | set-ups | s in all |")
    out.append("| --- | --- | ---: | ---: |")
    for (name, scope), times in sorted(fixtures.items(), key=lambda kv: -sum(kv[1]))[:top]:
        if sum(times) < 1:
            break
        out.append(f"| {name} | {scope} | {len(times)} | {sum(times):.1f} |")
    by_kind: dict[str, float] = defaultdict(float)
    for r in rows:  # a fixture's own time, less the llem runs it made (counted as llem's)
        for f in r["fixtures"]:
            by_kind[kind_of(f["name"])] += f["s"] - f.get("llem_s", 0)
    llem_s = sum(r.get("llem_s", 0) for r in rows)
    sleep_s = sum(r.get("sleep_s", 0) for r in rows)
    parts = [
        (f"llem end to end ({sum(r.get('llem_runs', 0) for r in rows)} processes: start-up, engine load, measurement)", llem_s),
        *sorted(by_kind.items(), key=lambda kv: -kv[1]),
        ("time.sleep in the pytest process", sleep_s),
    ]
    rest = wall - sum(s for _, s in parts)
    out.append("\n| where | s | share |")
    out.append("| --- | ---: | ---: |")
    for name, s in [*parts, ("the rest (in-process work, other subprocesses)", rest)]:
        out.append(f"| {name} | {s:.0f} | {s / wall:.0%} |" if wall else f"| {name} | {s:.0f} | |")
    out.append("\n(llem runs made inside a fixture count as llem's; the fixture lists show them in the fixture's time.)")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("timings", help="the LLEM_TEST_TIMINGS file")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    print(report(load(args.timings), args.top))


if __name__ == "__main__":
    main()
