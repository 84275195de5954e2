"""metrics.energy_scope: what a result's joules count, from the devices its meters resolved."""

from __future__ import annotations

from llem.results.basis import energy_scope, record_scope
from llem.tracking.payload import params


def test_scope_names_the_parts_in_a_fixed_order():
    assert energy_scope(["gpu0"]) == "gpu" and energy_scope(["gpu0", "gpu1"]) == "gpu"
    assert energy_scope(["dram-0", "gpu0", "cpu-package-0", "cpu-package-1"]) == "gpu+cpu+dram"
    assert energy_scope(["cpu-package-0", "dram-0"]) == "cpu+dram"
    assert energy_scope(["cpu_estimate", "ram_estimate", "gpu_estimate"]) == "gpu+cpu+dram"  # CodeCarbon's keys
    assert energy_scope(["psys-0"]) == "psys-0" and energy_scope([]) is None


def _record(keys):
    windows = [{"energy_j": 10.0, "energy": {"energy_j": {k: 5.0 for k in keys}}}]
    return {
        "status": "ok",
        "windows": windows,
        "metrics": {"energy_j": 10.0},
        "spec": {},
        "identity": {},
        "energy": {"meter": {"meter": "nvml+rapl"}},
    }


def test_the_scope_reaches_the_tracker_also_for_results_written_before_the_field():
    gpu_cpu = _record(["gpu0", "cpu-package-0", "dram-0"])
    assert record_scope(gpu_cpu["windows"]) == "gpu+cpu+dram"
    assert params(gpu_cpu)["energy_scope"] == "gpu+cpu+dram"  # derived from the windows
    gpu_cpu["metrics"]["energy_scope"] = "gpu"  # the field, where the result has it, is what is logged
    assert params(gpu_cpu)["energy_scope"] == "gpu"
    unmeasured = dict(_record(["gpu0"]), metrics={"energy_j": None})
    assert "energy_scope" not in params(unmeasured)


class _Meter:
    measures = True

    def __init__(self, described):
        self.described = described

    def describe(self):
        return self.described


def _spec(tmp_path, *more):
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(
            config_name="config", overrides=["hardware=cpu", "tracking=none", "model=tiny", f"run.output_root={tmp_path}", *more]
        )
    return build_spec(plain_config(cfg))


def _keep(tmp_path, spec, scope, name="other-run"):
    from llem.results.io import write_json

    run = tmp_path / "runs" / name
    run.mkdir(parents=True)
    # the smallest record the result schema takes as complete (llem.results.complete), with its sibling files
    write_json(
        run / "result.json",
        {
            "schema_version": 2,
            "status": "ok",
            "identity": {"run_id": name, "config_hash": "0" * 12, "finished_unix_s": 1.0},
            "spec": spec.to_dict(),
            "metrics": {"energy_scope": scope, "energy_j_per_output_token": None, "output_tokens_per_s": 1.0},
            "windows": [{}],
            "validity": {"flags": []},
        },
    )
    (run / "config.yaml").write_text("{}\n")
    write_json(run / "environment.json", {})


def test_a_job_whose_meters_count_another_scope_than_the_kept_results_is_refused(tmp_path):
    import pytest

    from llem.errors import UserError
    from llem.results.scope_guard import meter_scope, refuse_mixed_scope

    spec = _spec(tmp_path)
    gpu_cpu = _Meter(
        {
            "meter": "nvml+rapl",
            "parts": [
                {"meter": "nvml", "devices": {"gpu0": {}}},
                {"meter": "rapl", "devices": {"cpu-package-0": "/x", "dram-0": "/y"}},
            ],
        }
    )
    gpu = _Meter({"meter": "nvml", "devices": {"gpu0": {}}})
    assert meter_scope(gpu_cpu) == "gpu+cpu+dram" and meter_scope(gpu) == "gpu"
    _keep(tmp_path, spec, "gpu")
    refuse_mixed_scope(spec, gpu)  # the same scope: measured
    with pytest.raises(UserError) as exc:
        refuse_mixed_scope(spec, gpu_cpu)
    msg = str(exc.value)
    assert msg.startswith("energy=auto counts gpu+cpu+dram here, but 1 complete result(s) with the same energy settings")
    assert "count gpu (e.g. other-run)" in msg and msg.count(".") >= 1 and "\n" not in msg
    # results of other energy settings (chosen by the user) are not this rule's business
    other = _spec(tmp_path / "b", "energy.include_cpu=false")
    _keep(tmp_path / "b", other, "gpu")
    refuse_mixed_scope(_spec(tmp_path / "b"), gpu_cpu)


def test_end_to_end_a_resumed_sweep_that_would_mix_scopes_stops_before_the_model_loads(tmp_path):
    """Two jobs of one output root, energy=auto: the first on the replayed GPU without RAPL (scope gpu); the
    second where RAPL is readable (gpu+cpu+dram) is refused in one sentence, exit 2, nothing measured."""
    import json

    from conftest import REPO, llem_env, run_llem

    powercap = tmp_path / "powercap"
    trace = str(REPO / "tests" / "data" / "nvml_trace_h100.csv")
    base = [
        "model=tiny",
        "hardware=auto",
        "tracking=none",
        "workload.output_tokens=2",
        "run.repeats=1",
        "run.warmup=0",
        "energy.baseline_s=0",
        "energy.sampler=false",
        f"run.output_root={tmp_path / 'out'}",
    ]
    first = run_llem(
        base + ["workload.num_prompts=2"], tmp_path, env=llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=str(powercap))
    )
    assert first.returncode == 0, first.stdout
    [kept] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("runs/*/result.json")]
    assert kept["metrics"]["energy_scope"] == "gpu"
    zone = powercap / "intel-rapl:0"  # a readable RAPL package zone, as powercap lays it out
    zone.mkdir(parents=True)
    for name, value in (("name", "package-0"), ("energy_uj", "1000000"), ("max_energy_range_uj", "262143328850")):
        (zone / name).write_text(value + "\n")
    second = run_llem(
        base + ["workload.num_prompts=3"], tmp_path, env=llem_env(LLEM_FAKE_NVML_TRACE=trace, LLEM_POWERCAP_ROOT=str(powercap))
    )
    assert second.returncode == 2, second.stdout
    assert "energy=auto counts gpu+cpu here, but 1 complete result(s)" in second.stdout
    assert "Traceback" not in second.stdout and "loading" not in second.stdout.lower()
    assert len(list((tmp_path / "out").glob("runs/*/result.json"))) == 1
