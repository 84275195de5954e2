"""Engines declare themselves (llem/backends/<name>/__init__.py) and llem.registry discovers them: each
declaration stays inside its own folder, discovery imports no engine, and a bad declaration is one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llem.errors import UserError
from llem.registry import Engine, builtin_engines, engine, load_object
from test_layering import HEAVY

BACKENDS = Path(__file__).resolve().parent.parent / "llem" / "backends"


def test_every_engine_folder_declares_one_engine_named_like_its_folder():
    folders = sorted(p.name for p in BACKENDS.iterdir() if (p / "__init__.py").is_file())
    assert sorted(builtin_engines()) == folders
    for name, e in builtin_engines().items():
        assert e.name == name
        assert e.settings_model().model_fields["name"].default == name  # backend.name selects the folder


def test_an_engine_names_only_modules_of_its_own_folder():
    for name, e in builtin_engines().items():
        for target in (e.settings, e.offline, e.server, e.prompt_counter):
            if target is not None:  # a module of the folder, or its __init__ (the settings model may live there)
                assert target.startswith((f"llem.backends.{name}.", f"llem.backends.{name}:")), (name, target)
        for target in (e.settings, e.server, e.prompt_counter):  # these import no engine: resolvable here
            if target is not None:
                assert callable(load_object(target)), target


def test_discovery_and_every_settings_model_import_no_engine():
    code = (
        "import json, sys; from llem.registry import engines; "
        "[e.settings_model() for e in engines().values()]; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert not set(json.loads(out.stdout)) & (HEAVY - {"numpy"}), out.stdout


def test_a_name_declared_twice_or_a_stray_object_is_one_sentence():
    from llem.registry import _collect  # noqa: PLC2701 - the discovery step itself

    vllm = engine("vllm")
    with pytest.raises(
        UserError,
        match=r"^engine name vllm is declared twice \(llem.backends.vllm and entry point "
        r"vllm = other:ENGINE\): uninstall one of them or rename its engine.$",
    ):
        _collect([(vllm, "llem.backends.vllm"), (vllm, "entry point vllm = other:ENGINE")])
    with pytest.raises(UserError, match=r"declares 'x', not a llem.registry.Engine"):
        _collect([("x", "entry point bad = pkg:X")])


def test_an_unknown_backend_is_one_sentence_with_the_choices():
    with pytest.raises(UserError, match=r"backend.*nosuch.*pytorch"):
        engine("nosuch")


def test_a_server_only_engine_is_refused_offline_before_anything_loads():
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.checks import check_spec
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        spec = build_spec(plain_config(compose(config_name="config", overrides=["model=tiny", "hardware=cpu", "tracking=none"])))
    server_only = Engine(name="pytorch", settings=engine("pytorch").settings, extra="pytorch", modules=("json",))
    with pytest.raises(
        UserError,
        match=r"^backend=pytorch runs as a server only, not in workload.mode=offline: "
        r"set workload.mode=server.$",
    ):
        check_spec(spec, server_only)


def test_a_missing_engine_says_its_own_pip_line():
    builtin = Engine(name="x", settings="m:C", extra="xtra", modules=("llem_no_such_module",))
    with pytest.raises(
        UserError,
        match=r"^backend=x needs the Python package 'llem_no_such_module', which is not "
        r"installed: run pip install 'llem\[xtra\]'.$",
    ):
        builtin.check_installed()
    third = Engine(name="x", settings="m:C", extra="xtra", modules=("llem_no_such_module",), install="pip install x-engine")
    with pytest.raises(UserError, match=r"run pip install x-engine.$"):
        third.check_installed()


def test_choices_read_as_a_sentence():
    from llem.registry import one_of

    assert [one_of(["a"]), one_of(["a", "b"]), one_of(["a", "b", "c"])] == ["a", "a or b", "a, b or c"]
