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
    return {"status": "ok", "windows": windows, "metrics": {"energy_j": 10.0}, "spec": {}, "identity": {},
            "energy": {"meter": {"meter": "nvml+rapl"}}}


def test_the_scope_reaches_the_tracker_also_for_results_written_before_the_field():
    gpu_cpu = _record(["gpu0", "cpu-package-0", "dram-0"])
    assert record_scope(gpu_cpu["windows"]) == "gpu+cpu+dram"
    assert params(gpu_cpu)["energy_scope"] == "gpu+cpu+dram"  # derived from the windows
    gpu_cpu["metrics"]["energy_scope"] = "gpu"  # the field, where the result has it, is what is logged
    assert params(gpu_cpu)["energy_scope"] == "gpu"
    unmeasured = dict(_record(["gpu0"]), metrics={"energy_j": None})
    assert "energy_scope" not in params(unmeasured)
