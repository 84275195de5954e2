"""One engine load per engine configuration in a sweep (run.reuse_engine, llem/harness/warm.py): a real
tiny-model sweep through the default launcher, the grouping of interleaved sweeps, the exact
load-key check that gives an engine sized from the workload its own process, and the pure parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import results_under, run_llem

TINY = [
    "model=tiny",
    "hardware=cpu",
    "workload.num_prompts=4",
    "workload.input_tokens=16",
    "workload.output_tokens=8",
    "run.repeats=2",
    "run.warmup=1",
    "energy=none",
    "tracking=none",
    "-q",
]


def _by_start(results: list[dict]) -> list[dict]:
    return sorted(results, key=lambda r: r["identity"]["started_unix_s"])


def test_interleaved_sweep_loads_each_engine_configuration_once(tmp_path):
    # Hydra's order alternates the dtype (the last list varies fastest): 4 engine switches unless grouped.
    proc = run_llem(
        ["--multirun", *TINY, "workload.batch_size=1,2", "backend.dtype=float32,bfloat16", f"run.output_root={tmp_path}"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "grouped by engine configuration" in proc.stdout
    done = _by_start(results_under(tmp_path))
    assert [(r["spec"]["backend"]["dtype"], r["spec"]["workload"]["batch_size"]) for r in done] == [
        ("float32", 1),
        ("float32", 2),
        ("bfloat16", 1),
        ("bfloat16", 2),
    ]
    for first, second in (done[:2], done[2:]):
        assert first["engine_load"] == {
            "reused": False,
            "load_s": first["load_s"],
            "loaded_for": first["identity"]["run_id"],
            "job_on_engine": 1,
        }
        assert second["engine_load"] == dict(first["engine_load"], reused=True, job_on_engine=2)
        assert second["load_s"] is None and first["load_s"] > 0
        # everything measured stays per job: its own warmup, windows and peak memory
        assert len(second["windows"]) == 2 and second["memory"]["peak_rss_mib"] > 0
        assert second["windows"][0]["started_unix_s"] > first["identity"]["finished_unix_s"] - 1e-3
    # Hydra's job numbers still follow the sweep's order (sweepers match returns by position).
    sweep = next((tmp_path / "hydra" / "sweeps").iterdir())
    overrides = {int(d.name): (d / ".hydra" / "overrides.yaml").read_text() for d in sweep.iterdir() if d.name.isdigit()}
    assert "batch_size=1" in overrides[0] and "dtype=float32" in overrides[0]
    assert "batch_size=1" in overrides[1] and "dtype=bfloat16" in overrides[1]


def test_reuse_off_loads_every_point(tmp_path):
    proc = run_llem(
        ["--multirun", *TINY, "workload.batch_size=1,2", "run.reuse_engine=false", f"run.output_root={tmp_path}"], tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    done = results_under(tmp_path)
    assert [r["engine_load"]["reused"] for r in done] == [False, False] and all(r["load_s"] > 0 for r in done)
    # same measurement identity either way: reuse is bookkeeping, not part of the config hash
    proc = run_llem(["--multirun", *TINY, "workload.batch_size=1,2", f"run.output_root={tmp_path}"], tmp_path)
    assert "0 measured, 2 skipped" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python[server])", "bash .ci/install.d/30-llamacpp.sh")
def test_engine_sized_from_the_workload_gets_a_fresh_process(tmp_path):
    # llama.cpp's n_ctx follows input + output tokens (512 vs 1280 here): another engine configuration.
    proc = run_llem(
        [
            "--multirun",
            *TINY,
            "backend=llamacpp",
            "workload.output_tokens=8,1000",
            "workload.batch_size=1",
            "run.repeats=1",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    short, long = _by_start(results_under(tmp_path))
    assert short["spec"]["workload"]["output_tokens"] == 8 and long["spec"]["workload"]["output_tokens"] == 1000
    assert short["engine_load"]["reused"] is False and long["engine_load"]["reused"] is False
    assert long["engine"]["effective_settings"]["n_ctx"] > short["engine"]["effective_settings"]["n_ctx"]
    # same engine group (backend, model, hardware), so the worker's exact check sent the second job to a new one
    from llem.config.grouping import engine_group

    assert engine_group(short["spec"]) == engine_group(long["spec"])


def test_engine_order_groups_jobs_and_keeps_order_within_groups():
    from llem.config.grouping import engine_group, engine_order

    def job(dtype, bs, reuse=True):
        return {
            "backend": {"name": "pytorch", "dtype": dtype},
            "model": {"name": "tiny"},
            "hardware": {"name": "cpu"},
            "workload": {"mode": "offline", "batch_size": bs, "concurrency": 4},
            "run": {"reuse_engine": reuse},
        }

    jobs = [job("a", 1), job("b", 1), job("a", 2), job("b", 2), job("a", 4)]
    assert engine_order(jobs) == [0, 2, 4, 1, 3]
    assert engine_group(jobs[0]) == engine_group(jobs[2]) != engine_group(jobs[1])
    assert engine_order([job("a", 1, False), job("b", 1, False), job("a", 2, False)]) == [0, 1, 2]
    # server mode: the load differs in concurrency only, so one group; an attached URL is part of the key
    server = [dict(job("a", 1), workload={"mode": "server", "concurrency": c, "server_url": None}) for c in (1, 4)]
    assert engine_group(server[0]) == engine_group(server[1])
    attached = dict(server[0], workload={"mode": "server", "concurrency": 1, "server_url": "http://127.0.0.1:1"})
    assert engine_group(attached) != engine_group(server[0])


def test_warm_engines_reuse_only_for_the_same_key_and_close_once():
    from llem.harness.warm import EngineMismatch, WarmEngines

    closed = []

    class Engine:
        def close(self):
            closed.append(self)

    warm = WarmEngines()
    engine, first = warm.acquire({"n_ctx": 512}, "job-a", Engine)
    again, second = warm.acquire({"n_ctx": 512}, "job-b", lambda: pytest.fail("loaded twice"))
    assert again is engine and first["reused"] is False and second["reused"] is True
    assert second["loaded_for"] == "job-a" and second["job_on_engine"] == 2 and second["load_s"] == first["load_s"]
    with pytest.raises(EngineMismatch, match=r"n_ctx: 512 -> 1280"):
        warm.acquire({"n_ctx": 1280}, "job-c", Engine)
    warm.close()
    warm.close()
    assert closed == [engine]


def test_peak_rss_counter_restarts(tmp_path):
    from llem.harness.warm import peak_rss_mib, reset_peak_rss

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs on this kernel")
    block = bytearray(300 * 2**20)  # raise the peak by ~300 MiB, then free it
    block[::4096] = b"x" * len(block[::4096])
    high = peak_rss_mib()
    del block
    assert reset_peak_rss() is True
    assert isinstance(high, float) and peak_rss_mib() < high - 200


def test_a_worker_that_died_between_jobs_is_replaced(tmp_path):
    """The kept worker is killed while idle (the kernel's OOM killer, an operator): the next job of
    its group notices before sending, starts a fresh worker and loads again; close_warm_worker ends it."""
    from test_config import _compose

    from llem.run import worker as runner
    from llem.config.spec import build_spec

    def spec(bs: int):
        return build_spec(
            _compose(
                [
                    "model=tiny",
                    "hardware=cpu",
                    "energy=none",
                    "tracking=none",
                    "run.repeats=1",
                    "run.quiet=true",
                    "workload.num_prompts=2",
                    "workload.output_tokens=4",
                    f"workload.batch_size={bs}",
                    f"run.output_root={tmp_path}",
                ]
            )
        )

    try:
        first = runner.run_isolated(spec(1), tmp_path / "a", quiet=True)["measured"]["engine_load"]
        kept = runner._WARM
        assert kept is not None and kept.proc.is_alive() and first["reused"] is False
        kept.proc.kill()
        kept.proc.join()
        second = runner.run_isolated(spec(2), tmp_path / "b", quiet=True)["measured"]["engine_load"]
        assert second["reused"] is False and runner._WARM is not kept and runner._WARM.proc.is_alive()
        third = runner.run_isolated(spec(4), tmp_path / "c", quiet=True)["measured"]["engine_load"]
        assert third["reused"] is True and third["loaded_for"] == spec(2).run_id()
    finally:
        worker = runner._WARM
        runner.close_warm_worker()
    assert runner._WARM is None and worker is not None and not worker.proc.is_alive()
