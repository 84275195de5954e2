"""One source of defaults: what the YAML of every shipped option sets equals the pydantic default,
unless the option itself says otherwise.

Each config group has a base option that the others inherit from (`defaults: [<base>]`); the base
must agree with the pydantic model on every key that has a pydantic default, and any other option
may differ from it only on keys its own file sets. A key the YAML sets that the model does not know
is caught as well (the composed config validates through build_spec).

The `backend` group has no YAML: each engine's option is its settings model's defaults, stored in
Hydra's ConfigStore (llem/backends/configs.py), and the settings' documentation is the models' field
descriptions, rendered into docs/backends.md's settings reference. The tests at the end keep it so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from llem.errors import UserError
from llem.backends import configs
from llem.config.compose_errors import group_options
from llem.registry import backend_info, builtin_engines
from llem.config.spec import EnergySpec, HardwareSpec, ModelSpec, RunSpec, TrackingSpec, WorkloadSpec, build_spec
from llem.tracking.settings import MlflowSettings

CONF = Path(__file__).resolve().parent.parent / "conf"
JSONL = Path(__file__).resolve().parent.parent / "llem/workload/data/prompts.jsonl"
GROUPS = ["backend", "model", "hardware", "energy", "workload", "tracking"]
# The option every other option of the group inherits from (None: each option is its own base).
BASE = {"model": "base/common", "hardware": "auto", "energy": "auto", "workload": "default", "backend": None, "tracking": None}


def _options(group: str) -> list[str]:
    if group == "backend":  # no files: the engines' settings models (Hydra's ConfigStore)
        return sorted(builtin_engines())
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in _options(g)]
# Options that deliberately do not start from their group's base, and why.
STANDALONE = {("energy", "none"): "a job without a meter has no CPU, interval or grid settings to choose"}


def _own_keys(group: str, option: str) -> dict:
    """What the option's own file sets (its defaults list left out), as nested dicts."""
    data = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    data.pop("defaults", None)
    return data


def _parents(group: str, option: str) -> list[str]:
    data = yaml.safe_load((CONF / group / f"{option}.yaml").read_text()) or {}
    return [d.split("@")[0] for d in data.get("defaults", []) if isinstance(d, str) and d != "_self_"]


def _set_on_the_way(group: str, option: str) -> dict:
    """Keys set by the option and by every option between it and its group's base (h100 -> cuda -> auto)."""
    if option == BASE[group]:
        return {}
    keys = {}
    for parent in _parents(group, option):
        keys.update(_set_on_the_way(group, parent))
    keys.update(_own_keys(group, option))
    return keys


def _model_for(group: str, node: dict) -> type[BaseModel]:
    if group == "backend":
        return backend_info(node["name"]).settings_model()
    if group == "tracking":
        return MlflowSettings if node["name"] == "mlflow" else TrackingSpec
    return {"model": ModelSpec, "hardware": HardwareSpec, "energy": EnergySpec, "workload": WorkloadSpec}[group]


def _pydantic_defaults(model: type[BaseModel]) -> dict:
    """Field name -> default (nested models as dicts); fields without a default are left out."""
    out = {}
    for name, field in model.model_fields.items():
        if field.default is not PydanticUndefined:
            value = field.default
            out[name] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        elif field.default_factory is not None:
            out[name] = field.default_factory()
    return out


def _mismatches(yaml_node: dict, defaults: dict, own: dict, prefix: str) -> list[str]:
    """Keys whose composed YAML value differs from the pydantic default and that `own` does not set."""
    bad = []
    for key, value in yaml_node.items():
        if key not in defaults:
            continue
        want, mine = defaults[key], own.get(key) if isinstance(own, dict) else None
        if isinstance(value, dict) and isinstance(want, dict):
            bad += _mismatches(value, want, mine if isinstance(mine, dict) else {}, f"{prefix}{key}.")
        elif value != want and not (isinstance(own, dict) and key in own):
            bad.append(f"{prefix}{key}: YAML {value!r}, pydantic {want!r}")
    return bad


def _compose(overrides: list[str]):
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return compose(config_name="config", overrides=overrides)


def _partners(group: str, option: str) -> list[str]:
    extra = []
    if group == "workload" and option == "jsonl":
        extra.append(f"workload.path={JSONL}")
    if group == "workload" and option == "chat":
        extra.append(f"workload.path={JSONL.parent / 'chat_example.jsonl'}")
    if group == "workload" and option == "structured":  # the default engine (PyTorch) cannot constrain: refused
        extra += [f"workload.schema_path={JSONL.parent / 'structured_example.schema.json'}", "backend=llamacpp"]
    if group == "backend":
        extra.append("hardware=cuda")  # GPU-only engines validate against a GPU profile
    return extra


@pytest.mark.parametrize("group,option", CASES + [("model", "base/common")])
def test_yaml_defaults_equal_pydantic_defaults(group, option):
    node = OmegaConf.to_container(_compose([f"{group}={option}", *_partners(group, option)])[group], resolve=True)
    defaults = _pydantic_defaults(_model_for(group, node))
    own = {} if BASE[group] is None else _set_on_the_way(group, option)
    if group == "backend":
        own = {"name": node["name"]}  # each backend file is its own model's base: only its name may differ
    bad = _mismatches(node, defaults, own, f"{group}.")
    assert not bad, f"conf/{group}/{option}.yaml disagrees with its pydantic model: " + "; ".join(bad)


def test_run_block_of_the_root_config_equals_runspec_defaults():
    """conf/config.yaml's run: block is RunSpec's YAML, with no option above it: equal exactly, key for key."""
    run = OmegaConf.to_container(_compose([])["run"], resolve=True)
    defaults = _pydantic_defaults(RunSpec)
    assert set(run) == set(RunSpec.model_fields), "conf/config.yaml run: and RunSpec list different settings"
    bad = _mismatches(run, defaults, {}, "run.")
    assert not bad, "conf/config.yaml disagrees with RunSpec: " + "; ".join(bad)


@pytest.mark.parametrize("group,option", [(g, o) for g, o in CASES if BASE[g] and o != BASE[g] and (g, o) not in STANDALONE])
def test_options_inherit_from_their_group_base(group, option):
    chain, seen = [option], set()
    while chain[-1] != BASE[group]:
        parents = _parents(group, chain[-1])
        assert len(parents) == 1 and parents[0] not in seen, f"conf/{group}/{chain[-1]}.yaml: defaults {parents}"
        seen.add(parents[0])
        chain.append(parents[0])  # an option without defaults fails above: it should start from its group's base


@pytest.mark.parametrize("group,option", CASES)
def test_every_option_validates_through_build_spec(group, option):
    cfg = OmegaConf.to_container(_compose([f"{group}={option}", *_partners(group, option)]), resolve=True)
    try:
        spec = build_spec(cfg)
    except UserError as exc:
        # only an engine this machine does not have installed (its pip line), or a sensor it lacks
        msg = str(exc)
        assert "pip install" in msg or (group == "energy" and f"energy={option}" in msg), msg
        model = _model_for(group, cfg[group])
        model(**cfg[group]) if group != "backend" else model(**cfg["backend"])  # the group itself still validates
        return
    section = getattr(spec, group) if group != "backend" else spec.backend
    assert section is not None


def test_server_only_keys_are_the_ones_the_server_checks_own():
    """The server-only block of the workload base holds exactly SERVER_ONLY_FIELDS, in one place."""
    from llem.workload.server_checks import SERVER_ONLY_FIELDS

    text = (CONF / "workload" / "default.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(text) if "server only" in line.lower())
    block = []
    for line in text[start + 1 :]:
        if line.startswith("#") and not block:
            continue  # the rest of the block's comment
        if not line.strip() or line.startswith("#"):
            break
        block.append(line.split(":")[0].strip())
    assert sorted(block) == sorted(SERVER_ONLY_FIELDS)
    for option in _options("workload"):
        if option != "default" and option != "server":
            own = _own_keys("workload", option)
            assert not set(own) & set(SERVER_ONLY_FIELDS), f"conf/workload/{option}.yaml repeats server-only keys"


def test_no_backend_option_is_a_yaml_file():
    """A conf/backend/<name>.yaml would come before the ConfigStore in Hydra's search path: a second source."""
    assert not (CONF / "backend").exists(), (
        "conf/backend/ is back: an engine's backend=<name> option is its settings model's defaults "
        "(llem/backends/configs.py); set a default or document a setting in the model (Field(..., description=...))"
    )


def test_every_engine_is_a_backend_option_in_a_process_that_imports_only_the_compose_api():
    """Registered by importing llem.conf, which Hydra does wherever it composes llem's config: not only
    where llem.cli.app (the CLI) is imported."""
    code = (
        "import json, sys; from hydra import compose, initialize_config_module; from omegaconf import OmegaConf\n"
        "with initialize_config_module(config_module='llem.conf', version_base=None):\n"
        "    seen = {b: OmegaConf.to_container(compose(config_name='config', overrides=[f'backend={b}']).backend)"
        " for b in sys.argv[1:]}\n"
        "print(json.dumps({'seen': seen, 'cli': sorted(m for m in sys.modules if m.startswith('llem.cli'))}))"
    )
    names = sorted(builtin_engines())
    out = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert got["cli"] == []
    assert got["seen"] == {n: configs.defaults(builtin_engines()[n]) for n in names}


def test_help_lists_every_built_in_engine_as_a_backend_option():
    assert group_options("backend") == sorted(builtin_engines())


def test_settings_reference_is_written_from_the_settings_models(capsys):
    """One place to edit a default or a setting's documentation: the settings model. docs/backends.md's
    reference is its rendering."""
    assert configs.main(["--check"]) == 0, capsys.readouterr().out


def test_rendering_restores_a_drifted_default_and_description():
    text = configs.DOCS.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("| `kv_cache_dtype` | str | `auto` | auto \\| float16"))
    drifted = text.replace(line, line.replace("`auto`", "`fp8`").replace("float16", "half"))
    assert drifted != text and configs.updated(drifted) == text
    block = text[text.index(configs.BEGIN) : text.index(configs.END)]
    rows = [ln for ln in block.splitlines() if ln.startswith("| `")]  # every setting but `name`, once
    assert len(rows) == sum(len(e.settings_model().model_fields) - 1 for e in builtin_engines().values())
