"""SGLang as it is today: ServerArgs read as a dataclass or a msgspec struct, and the values validation
accepts taken from the installed SGLang's own server_args.py (else the lists pinned to a named release)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from llem.backends.sglang import serverargs
from llem.errors import UserError


def test_effective_settings_from_a_dataclass_a_msgspec_struct_or_resolved_dict():
    msgspec = pytest.importorskip("msgspec")  # vLLM depends on it; SGLang 0.5.2x's ServerArgs is one

    @dataclasses.dataclass
    class OldArgs:
        tp_size: int = 2
        attention_backend: str = "fa3"

    class NewArgs(msgspec.Struct):
        tp_size: int = 2
        attention_backend: str = "fa3"

    class Resolved(NewArgs):
        def resolved_dict(self):
            return {"tp_size": 2, "attention_backend": "flashinfer"}  # what SGLang picked, not the raw field

    assert dataclasses.asdict(OldArgs()) == {"tp_size": 2, "attention_backend": "fa3"}
    assert not dataclasses.is_dataclass(NewArgs())  # the old code's check: it gave {} for every result
    assert serverargs.live_fields(OldArgs()) == serverargs.live_fields(NewArgs()) == {"tp_size": 2, "attention_backend": "fa3"}
    assert serverargs.live_fields(Resolved())["attention_backend"] == "flashinfer"
    assert serverargs.live_fields(None) == {}


def _real_server_args() -> Path:
    root = Path(
        os.environ.get("LLEM_SGLANG_SOURCE")
        or Path(os.environ.get("LLEM_CI_CACHE", "/root/.cache/llem-ci")) / f"sglang-{serverargs.PINNED_RELEASE}"
    )
    path = root / "sglang" / "srt" / "server_args.py"
    if not path.is_file():
        pytest.skip(f"SGLang {serverargs.PINNED_RELEASE}'s server_args.py is not here: bash .ci/install.d/32-sglang-source.sh")
    return path


def test_validation_uses_the_installed_sglangs_values(tmp_path, monkeypatch):
    """An installed release that dropped 'marlin' (as 0.5.23 did) refuses it; one that has it accepts it."""
    from test_sglang import job

    from llem.backends.sglang.config import SglangConfig

    pkg = tmp_path / "site" / "sglang"
    (pkg / "srt").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('llem must read this package, never import it')\n")
    text = _real_server_args().read_text()
    assert '    "marlin",\n' in text
    (pkg / "srt" / "server_args.py").write_text(text.replace('    "marlin",\n', "", 1))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    serverargs.read.cache_clear()
    choices, origin = serverargs.choices_for_validation()
    assert (
        "the installed SGLang" in origin and "marlin" not in choices["quantization"] and "gptq_marlin" in choices["quantization"]
    )
    with pytest.raises(UserError, match=r"backend.quantization=marlin is not valid.*the values of the installed SGLang"):
        SglangConfig.check(job(quantization="marlin"))
    SglangConfig.check(job(quantization="gptq_marlin"))
    assert "sglang" not in sys.modules


def test_without_sglang_validation_names_the_pinned_release(monkeypatch):
    monkeypatch.setattr(serverargs, "installed_file", lambda: None)
    choices, origin = serverargs.choices_for_validation()
    assert choices == serverargs.PINNED_CHOICES and f"SGLang {serverargs.PINNED_RELEASE}, pinned in llem" in origin


def _release_root(release: str) -> Path:
    root = Path(os.environ.get("LLEM_CI_CACHE", "/root/.cache/llem-ci")) / f"sglang-{release}"
    if not (root / "sglang" / "srt" / "server_args.py").is_file():
        pytest.skip(f"SGLang {release}'s sources are not here: bash .ci/install.d/32-sglang-source.sh")
    return root


def _newest() -> str:
    from test_mappings_real import sglang_releases

    return sglang_releases()[-1]


def test_both_layouts_are_read_with_their_choices():
    """≤ 0.5.19: fields in ServerArgs itself; ≥ 0.5.20: in arg_groups/fields/*.py, choices in arg_groups/choices.py."""
    old = serverargs.read(str(_release_root(serverargs.PINNED_RELEASE) / "sglang" / "srt" / "server_args.py"))
    new = serverargs.read(str(_release_root(_newest()) / "sglang" / "srt" / "server_args.py"))
    assert old.layout == "server_args.py" and old.kind == "dataclass"
    for source in (old, new):
        assert len(source.fields) > 400, source.layout
        assert all(source.choices(k) for k in serverargs.PINNED_CHOICES), source.layout
        assert {"disable_decode_cuda_graph", "disable_prefill_cuda_graph", "mem_fraction_static"} <= set(source.fields)
    if not (Path(new.origin).parent / "arg_groups" / "fields").is_dir():
        pytest.skip(f"SGLang {_newest()} has the old layout")
    assert new.layout == "server_args.py + arg_groups/fields/*.py" and new.kind == "msgspec"
    assert "fp8" in new.choices("quantization") and "triton" in new.choices("attention_backend")
    assert new.choices("cuda_graph_backend_decode")  # a Literal[...] annotation's values


def test_an_installed_new_layout_is_used_and_named(tmp_path, monkeypatch):
    """SGLang ≥ 0.5.20 installed: its own values validate (0.5.23 dropped 'marlin'), and the message names
    the installed release; before, llem found 0 fields and said SGLang was not installed."""
    import shutil

    from test_sglang import job

    from llem.backends.sglang.config import SglangConfig

    root = _release_root(_newest())
    if not (root / "sglang" / "srt" / "arg_groups" / "fields").is_dir():
        pytest.skip(f"SGLang {_newest()} has the old layout")
    site = tmp_path / "site"
    shutil.copytree(root / "sglang", site / "sglang")
    (site / "sglang" / "__init__.py").write_text("raise ImportError('llem must read this package, never import it')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(serverargs, "_installed_version", lambda: _newest())
    serverargs.read.cache_clear()
    choices, origin = serverargs.choices_for_validation()
    assert origin == f"the installed SGLang {_newest()}"
    assert choices["quantization"] != serverargs.PINNED_CHOICES["quantization"]
    if "marlin" not in choices["quantization"]:
        with pytest.raises(UserError, match=rf"backend.quantization=marlin is not valid.*the installed SGLang {_newest()}"):
            SglangConfig.check(job(quantization="marlin"))
    assert serverargs.has_phase_cuda_graph_flags()
    assert "sglang" not in sys.modules


def test_an_unreadable_install_is_not_called_absent(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "sglang" / "srt"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "server_args.py").write_text("class ServerArgs:\n    model_path: str = ''\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(serverargs, "_installed_version", lambda: "9.9.9")
    serverargs.read.cache_clear()
    choices, origin = serverargs.choices_for_validation()
    assert choices == serverargs.PINNED_CHOICES
    assert "not installed" not in origin
    assert "the installed SGLang 9.9.9 was not used: no choices for quantization" in origin and "(1 fields read)" in origin
