"""build_spec's per-process cache (llem/config/spec.py): sweep points built in one process (the CLI's
validation, then the in-process launcher) each get their own spec, equal to a fresh build, and
no caller can change what the next build returns."""

from __future__ import annotations

from hydra import compose, initialize_config_module

from llem.cli.app import plain_config
from llem.config.spec import build_spec, forget_built_specs


def _point(*overrides: str) -> dict:
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return plain_config(compose(config_name="config", overrides=["model=tiny", "hardware=cpu", *overrides]))


def test_sweep_points_in_one_process_get_their_own_spec_equal_to_a_fresh_build():
    points = [_point(f"workload.batch_size={b}", f"backend.dtype={d}") for b in (1, 4) for d in ("float32", "bfloat16")]
    first = [build_spec(p) for p in points]  # the CLI validates every point before Hydra starts
    again = [build_spec(p) for p in points]  # the in-process launcher builds them again, job by job
    forget_built_specs()
    fresh = [build_spec(p) for p in points]
    assert [(s.workload.batch_size, s.backend["dtype"]) for s in again] == [
        (1, "float32"),
        (1, "bfloat16"),
        (4, "float32"),
        (4, "bfloat16"),
    ]
    assert again == first == fresh
    assert len({s.config_hash() for s in again}) == 4


def test_a_caller_changing_a_spec_does_not_change_the_next_build():
    cfg = _point("hardware.gpus=[0]", "hardware.device=auto")
    spec = build_spec(cfg)
    spec.backend["dtype"] = "changed"  # frozen model, mutable dict inside
    spec.hardware.gpus.append(7)
    hit = build_spec(cfg)
    assert hit.backend["dtype"] != "changed" and hit.hardware.gpus == [0]
    assert hit is not spec and hit.backend is not spec.backend
