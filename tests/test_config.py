"""Every shipped config composes and validates; the spec's identity and slug behave."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module

from llem.cli.app import plain_config
from llem.config.spec import JobSpec, build_spec
from llem.errors import UserError

CONF = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ["backend", "model", "hardware", "energy", "workload", "tracking"]
GPU_ONLY_HW = {"cuda", "h100", "h200", "a100"}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(overrides: list[str]) -> dict:
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return plain_config(compose(config_name="config", overrides=overrides))


def _section(spec: JobSpec, group: str) -> dict:
    part = getattr(spec, group)
    return part if isinstance(part, dict) else part.model_dump(mode="json")


def _valid_partner(group: str, option: str) -> list[str]:
    """Overrides that make `group=option` a valid job on this machine's kind of config."""
    extra = []
    if group == "workload" and option == "jsonl":
        extra.append("workload.path=" + str(Path(__file__).resolve().parent.parent / "llem/workload/data/prompts.jsonl"))
    if group == "workload" and option == "chat":
        extra.append("workload.path=" + str(Path(__file__).resolve().parent.parent / "llem/workload/data/chat_example.jsonl"))
    if group == "workload" and option == "structured":
        extra.append("backend=llamacpp")  # the default engine (PyTorch) cannot constrain its output: refused
    if group == "backend":
        extra.append("hardware=cuda")  # GPU-only engines validate against a GPU profile
    return extra


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_shipped_option_composes_and_validates(group, option):
    cfg = _compose([f"{group}={option}", *_valid_partner(group, option)])
    try:
        spec = build_spec(cfg)
    except UserError as exc:
        # Acceptable refusals name the option and say what is missing on this machine: an engine
        # that is not installed (with its pip line) or a sensor this machine does not have.
        msg = str(exc)
        assert "pip install" in msg or (group == "energy" and f"energy={option}" in msg), f"{group}={option}: {msg}"
        return
    assert isinstance(spec, JobSpec)
    # The option's own settings arrived in the validated spec, value for value.
    shipped = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    scalars = {
        k: v
        for k, v in shipped.items()
        if k != "defaults" and not isinstance(v, (dict, list)) and not str(v).startswith("${") and v != "???"
    }
    section = _section(spec, group)
    assert scalars and {k: section.get(k, "<missing>") for k in scalars} == scalars, f"{group}={option}"
    if group == "backend":
        assert spec.backend_name == option


def test_default_job_is_the_offline_smollm2_model():
    spec = build_spec(_compose([]))
    assert spec.model.name == "smollm2-135m" and spec.model.source == "builtin"
    assert spec.backend_name == "pytorch"
    assert spec.backend["dtype"] == "auto"  # the backend's defaults are filled in


def test_hash_ignores_bookkeeping_but_not_measurement_settings():
    base = build_spec(_compose(["model=tiny"]))
    moved = build_spec(_compose(["model=tiny", "run.output_root=/elsewhere", "run.quiet=true", "run.force=true"]))
    bigger = build_spec(_compose(["model=tiny", "workload.batch_size=8"]))
    assert base.config_hash() == moved.config_hash()
    assert base.config_hash() != bigger.config_hash()
    assert len(base.config_hash()) == 12


def test_run_id_is_a_safe_directory_name_even_for_hub_ids():
    spec = build_spec(_compose(["model=llama3", "model.weights=random", "model.name=meta/llama 3:8b"]))
    rid = spec.run_id()
    assert "/" not in rid and " " not in rid and ":" not in rid
    assert rid.endswith(spec.config_hash())


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["workload.batch_size=0"], "workload.batch_size=0"),
        (["workload.output_tokens=-3"], "workload.output_tokens=-3"),
        (["backend.dtype=float8"], "backend.dtype=float8"),
        (["backend.cache_implementation=paged"], "backend.cache_implementation=paged"),
        (["hardware=cpu", "backend.dtype=float16"], "float16"),
        (["model.weights=random"], "model.weights=random"),
        (["model=llama3", "model.weights=random", "model.arch=llama-9"], "model.arch=llama-9"),
        (["hardware.gpus=[0,1]"], "hardware.gpus"),
        (["energy.baseline_s=-1"], "energy.baseline_s=-1"),
    ],
)
def test_bad_values_fail_with_one_sentence_naming_the_value(overrides, needle):
    with pytest.raises(UserError) as info:
        build_spec(
            _compose(
                ["model=tiny", *overrides]
                if overrides[0].startswith(("workload", "backend", "hardware", "energy"))
                else overrides
            )
        )
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg and msg.endswith(".")


def test_renamed_run_settings_keep_hashes_read_old_records_and_name_the_new_key():
    """run.min_window_updates became run.target_window_updates (energy.min_window_updates means something else)
    and run.cooldown run.cooldown_mode: results measured before keep their config hash, stored specs and
    configs with the old names still validate, and the old name on the command line says the new one."""
    from llem.cli import prevalidate
    from llem.config.spec import JobSpec
    from llem.errors import UserError

    spec = build_spec(_compose(["model=tiny", "hardware=cpu", "run.target_window_updates=10", "run.cooldown_mode=fixed"]))
    ident = spec.identity()["run"]
    assert ident["min_window_updates"] == 10 and ident["cooldown"] == "fixed"  # the names hashed before the rename
    assert "target_window_updates" not in ident and "cooldown_mode" not in ident
    stored = spec.to_dict()
    run = stored["run"]
    run["min_window_updates"], run["cooldown"] = run.pop("target_window_updates"), run.pop("cooldown_mode")
    old = JobSpec.model_validate(stored)  # a result.json written before the rename
    assert old.run.target_window_updates == 10 and old.run.cooldown_mode == "fixed"
    assert old.config_hash() == spec.config_hash()
    for given, says in (
        ("run.cooldown=fixed", "run.cooldown was renamed run.cooldown_mode (same values): use run.cooldown_mode=fixed."),
        ("run.min_window_updates=5", "use run.target_window_updates=5."),
    ):
        with pytest.raises(UserError) as exc:
            prevalidate(["model=tiny", "hardware=cpu", "tracking=none", given])
        assert str(exc.value).endswith(says), str(exc.value)
