"""A sweep at lab scale: 200 jobs through Slurm into a PostgreSQL-backed MLflow server.

The tiny model on CPU with the smallest workload (1 prompt, 2 output tokens, 1 window, no warm-up,
no energy meter), so what is timed is llem and its surroundings, not inference:

    4 engine configurations (backend.cache_implementation=dynamic,static x backend.dtype=float32,bfloat16)
    x workload.input_tokens (25 lengths) x workload.output_tokens=1,2           = 200 jobs

Each engine configuration is one Slurm job (one process, one engine load); the array runs one
job at a time (the slurm preset's array_parallelism=1). It needs the CI's one-node Slurm
(`bash .ci/services.d/slurm.sh start`) and PostgreSQL (`bash .ci/services.d/postgres.sh start`);
it starts its own `mlflow server` on a fresh database (llem/testing/mlflow_postgres.py, as the tests do) and
stops it by PID at the end.

Steps and what it prints:
1. the sweep through Slurm; wall time; the controller's (the submitting `llem --multirun`
   process's) peak RSS, from /proc/<pid>/status VmHWM polled every 0.5 s;
2. checks: every job's result on disk and ok; every job exactly once in MLflow (child runs
   counted by their `llem.run_id` and `llem.measurement_id` tags, and in SQL in the store's
   `runs` table), one parent run;
3. llem's overhead per job: the sweep runs one job at a time, so job k's share of the wall time
   is the time from the previous job's end (the sweep's start for the first) to its own end;
   minus its measured windows, warm-ups and engine load, that is what llem (Slurm, Hydra, the
   worker, result files, the MLflow upload) costs per job. Median, p90, max;
4. the MLflow upload per run: in the sweep, from each measurement's end to its tracking marker
   (tracking.json, written once the upload is done); and timed alone: llem's uploader on copies
   of 20 run dirs into another experiment of the same server (one connected client);
5. the same command again with nothing left to do: its wall time (every job skipped), and MLflow's
   counts unchanged;
6. (--local-check) the same sweep with the default in-process launcher and tracking off, into
   another output root: the same run ids, config hashes and result identities (not timings).

    python benchmarks/lab_sweep.py [--input-lengths 25] [--local-check all|none|N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's llem

from llem.testing.mlflow_postgres import start_postgres_mlflow, stop_postgres_mlflow  # noqa: E402  (the tests' server too)
from llem.testing.mlflow_server import tags  # noqa: E402

SLURM_CONF = "/tmp/llem-slurm/slurm.conf"  # .ci/services.d/slurm.sh
TINY = [
    "model=tiny",
    "hardware=cpu",
    "energy=none",
    "workload.num_prompts=1",
    "workload.batch_size=1",
    "run.repeats=1",
    "run.warmup=0",
    "run.quiet=true",
]
ENGINES = ["backend.cache_implementation=dynamic,static", "backend.dtype=float32,bfloat16"]


def sweep_axes(lengths: int) -> list[str]:
    return [*ENGINES, f"workload.input_tokens=range(8,{8 + 2 * lengths},2)", "workload.output_tokens=1,2"]


def env_for_llem() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.setdefault("SLURM_CONF", SLURM_CONF)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "launchers"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_llem(args: list[str], cwd: Path, log: Path) -> dict:
    """Run `python -m llem ARGS`, polling its peak RSS; its wall time, peak RSS and output."""
    t0 = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llem", *args], cwd=cwd, env=env_for_llem(), stdout=out, stderr=subprocess.STDOUT
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, vm_hwm_kib(proc.pid) or 0)
            time.sleep(0.5)
    wall = time.time() - t0
    text = log.read_text()
    if proc.returncode != 0:
        sys.exit(f"llem exited with {proc.returncode}; last output:\n{text[-3000:]}")
    return {"started": t0, "wall_s": wall, "peak_rss_mb": peak / 1024 if peak else None, "output": text}


def results(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "runs").glob("*/result.json"))]


def summary_line(output: str) -> str:
    return next((line for line in output.splitlines() if "llem sweep summary:" in line), "(no summary line)")


def quantiles(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return f"median {statistics.median(xs):.2f} s, p90 {p90:.2f} s, max {xs[-1]:.2f} s (n={len(xs)})"


def overheads(done: list[dict], sweep_start: float) -> list[float]:
    """Per job: its share of the sequential sweep's wall time minus windows, warm-ups and its load."""
    out, previous_end = [], sweep_start
    for r in sorted(done, key=lambda r: r["identity"]["finished_unix_s"]):
        end = r["identity"]["finished_unix_s"]
        windows = [w["duration_s"] for w in r["windows"]]
        warmup = r["spec"]["run"]["warmup"] * statistics.mean(windows)
        out.append(end - previous_end - sum(windows) - warmup - (r.get("load_s") or 0.0))
        previous_end = end
    return out


def mlflow_counts(server, experiment: str) -> dict:
    runs = server.runs(experiment)
    parents = [r for r in runs if tags(r).get("llem.role") == "sweep"]
    children = [r for r in runs if tags(r).get("llem.role") == "job"]
    per_run_id: dict[str, int] = {}
    per_measurement: dict[str, int] = {}
    for c in children:
        per_run_id[tags(c)["llem.run_id"]] = per_run_id.get(tags(c)["llem.run_id"], 0) + 1
        per_measurement[tags(c)["llem.measurement_id"]] = per_measurement.get(tags(c)["llem.measurement_id"], 0) + 1
    return {
        "parents": parents,
        "children": children,
        "per_run_id": per_run_id,
        "per_measurement": per_measurement,
        "sql_runs": server.database.scalar("SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'"),
    }


def upload_lags(done: list[dict], out: Path) -> list[float]:
    """Per job: from its measurement's end to its tracking marker (plot, connect, upload, marker)."""
    lags = []
    for r in done:
        marker = json.loads((out / "runs" / r["identity"]["run_id"] / "tracking.json").read_text())
        lags.append(marker["attempted_unix_s"] - r["identity"]["finished_unix_s"])
    return lags


def first_of_group_lags(done: list[dict], out: Path) -> list[float]:
    firsts = [r for r in done if not r["engine_load"]["reused"]]
    return upload_lags(firsts, out)


def timed_uploads(out: Path, scratch: Path, uri: str, count: int) -> list[float]:
    """Upload copies of `count` run dirs with llem's own uploader, timing each (the client is
    connected once first, as in a job after its first upload)."""
    from llem.tracking.mlflow_store import connect
    from llem.tracking.upload import log_run

    connect(uri)
    times = []
    for src in sorted((out / "runs").iterdir())[:count]:
        dst = scratch / src.name
        shutil.copytree(src, dst)
        record = json.loads((dst / "result.json").read_text())
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a "View run" line per run
            t0 = time.perf_counter()
            log_run(dst, record, uri, "lab-sweep-upload", None)
            times.append(time.perf_counter() - t0)
    return times


def check(ok: bool, what: str, failures: list[str]) -> None:
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        failures.append(what)


def identity_view(r: dict) -> tuple:
    ident = r["identity"]
    return (
        ident["run_id"],
        ident["config_hash"],
        r["status"],
        ident.get("device"),
        r["spec"]["backend"]["cache_implementation"],
        r["spec"]["backend"]["dtype"],
        r["spec"]["workload"]["input_tokens"],
        r["spec"]["workload"]["output_tokens"],
        tuple(w["output_tokens"] for w in r["windows"]),
    )


def check_mlflow(server, experiment: str, done: list[dict], n: int, failures: list[str]) -> dict:
    m = mlflow_counts(server, experiment)
    ids = {r["identity"]["run_id"] for r in done}
    check(len(m["parents"]) == 1, f"one parent run in MLflow (found {len(m['parents'])})", failures)
    check(
        set(m["per_run_id"]) == ids and set(m["per_run_id"].values()) == {1},
        f"every job exactly once in MLflow by llem.run_id ({len(m['per_run_id'])} ids, "
        f"{sum(v > 1 for v in m['per_run_id'].values())} duplicated, {len(ids - set(m['per_run_id']))} missing)",
        failures,
    )
    check(
        len(m["per_measurement"]) == n and set(m["per_measurement"].values()) == {1},
        f"every measurement exactly once by llem.measurement_id ({len(m['per_measurement'])})",
        failures,
    )
    check(m["sql_runs"] == n + 1, f"the store's runs table holds {n} + 1 parent (SQL count: {m['sql_runs']})", failures)
    parent = m["parents"][0]["info"]["run_id"] if m["parents"] else None
    check(all(tags(c).get("mlflow.parentRunId") == parent for c in m["children"]), "every child under that parent", failures)
    return m


def local_check(args, root: Path, done: list[dict], failures: list[str]) -> None:
    axes = sweep_axes(args.input_lengths)
    if args.local_check != "all":  # a subset: the first N lengths of the same grid
        axes = [*ENGINES, f"workload.input_tokens=range(8,{8 + 2 * int(args.local_check)},2)", "workload.output_tokens=1,2"]
    local = root / "local"
    local.mkdir()
    run = run_llem(["--multirun", *TINY, *axes, "tracking=none", f"run.output_root={local}"], local, root / "local.log")
    mine = {r["identity"]["run_id"]: identity_view(r) for r in results(local)}
    theirs = {r["identity"]["run_id"]: identity_view(r) for r in done}
    print(f"local run (in-process launcher, tracking off): {len(mine)} jobs in {run['wall_s']:.0f} s")
    check(
        len(mine) > 0 and all(theirs.get(k) == v for k, v in mine.items()),
        f"the local run's {len(mine)} results have the same run ids, config hashes, statuses and token counts "
        f"as the Slurm run's ({sum(theirs.get(k) != v for k, v in mine.items())} differ)",
        failures,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input-lengths", type=int, default=25, help="input lengths per engine configuration (x 8 = jobs)")
    ap.add_argument("--local-check", default="all", help="all | none | N input lengths of the grid run locally")
    ap.add_argument("--upload-runs", type=int, default=20, help="run dirs uploaded again, timed one by one")
    ap.add_argument("--keep", type=Path, help="keep the output root here (default: a temporary folder)")
    args = ap.parse_args()
    n = 8 * args.input_lengths
    root = args.keep or Path(tempfile.mkdtemp(prefix="llem-lab-sweep-"))
    root.mkdir(parents=True, exist_ok=True)
    out = root / "slurm"
    out.mkdir(exist_ok=True)
    server = start_postgres_mlflow(root / "mlflow")
    failures: list[str] = []
    try:
        experiment = "lab-sweep"
        cmd = [
            "--multirun",
            "hydra/launcher=slurm",
            *TINY,
            *sweep_axes(args.input_lengths),
            f"tracking.uri={server.uri}",
            f"tracking.experiment={experiment}",
            f"run.output_root={out}",
        ]
        print(f"{n} jobs: python -m llem {' '.join(cmd)}")
        first = run_llem(cmd, out, root / "sweep.log")
        done = results(out)
        print(f"sweep: {first['wall_s']:.0f} s wall; {summary_line(first['output'])}")
        check(len(done) == n and all(r["status"] == "ok" for r in done), f"{len(done)} of {n} results ok on disk", failures)
        loads = sum(1 for r in done if not r["engine_load"]["reused"])
        print(f"engine loads: {loads} (one per engine configuration: 4)")
        check_mlflow(server, experiment, done, n, failures)
        over = overheads(done, first["started"])
        print(f"llem's overhead per job: {quantiles(over)}   (goal: median <= 5 s)")
        first_start = min(r["identity"]["started_unix_s"] for r in done)
        print(
            f"  before the first job started (interpreter, Hydra, validating {n} points, submission, Slurm): "
            f"{first_start - first['started']:.1f} s; all overhead spread over the jobs: {sum(over) / n:.2f} s per job"
        )
        print(
            f"  whole sweep: {first['wall_s']:.0f} s wall, of it measured windows "
            f"{sum(w['duration_s'] for r in done for w in r['windows']):.1f} s, engine loads {sum(r.get('load_s') or 0 for r in done):.1f} s"
        )
        print(f"controller peak RSS: {first['peak_rss_mb']:.0f} MB   (goal: < 500 MB)")
        lag = upload_lags(done, out)
        print(f"MLflow upload in the sweep (result written to tracking.json marked synced): {quantiles(lag)}")
        print(
            f"  first job of each Slurm job (imports mlflow, connects): "
            f"{', '.join(f'{x:.2f}' for x in first_of_group_lags(done, out))} s"
        )
        again = run_llem(cmd, out, root / "resume.log")
        print(f"resume with nothing left to do: {again['wall_s']:.1f} s   (goal: < 30 s); {summary_line(again['output'])}")
        check(f"0 measured, {n} skipped" in again["output"], "the re-run measured nothing and skipped every job", failures)
        after = mlflow_counts(server, experiment)
        check(
            len(after["children"]) == n and after["sql_runs"] == n + 2,
            f"MLflow after the re-run: {len(after['children'])} job runs (unchanged), and the re-run's own parent "
            f"run (SQL count {after['sql_runs']})",
            failures,
        )
        timed = timed_uploads(out, root / "upload", server.uri, args.upload_runs)
        print(
            f"MLflow upload per run, timed alone ({len(timed)} runs to a fresh experiment, one client, "
            f"artifacts included): {quantiles(timed)}"
        )
        if args.local_check != "none":
            local_check(args, root, done, failures)
    finally:
        stop_postgres_mlflow(server)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("all checks passed" if not failures else f"{len(failures)} check(s) FAILED: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
