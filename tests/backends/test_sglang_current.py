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
    root = Path(os.environ.get("LLEM_SGLANG_SOURCE") or Path(os.environ.get("LLEM_CI_CACHE", "/root/.cache/llem-ci"))
                / f"sglang-{serverargs.PINNED_RELEASE}")
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
    assert "the installed SGLang" in origin and "marlin" not in choices["quantization"] and "gptq_marlin" in choices["quantization"]
    with pytest.raises(UserError, match=r"backend.quantization=marlin is not valid.*the values of the installed SGLang"):
        SglangConfig.check(job(quantization="marlin"))
    SglangConfig.check(job(quantization="gptq_marlin"))
    assert "sglang" not in sys.modules


def test_without_sglang_validation_names_the_pinned_release(monkeypatch):
    monkeypatch.setattr(serverargs, "installed_file", lambda: None)
    choices, origin = serverargs.choices_for_validation()
    assert choices == serverargs.PINNED_CHOICES and f"SGLang {serverargs.PINNED_RELEASE}, pinned in llem" in origin
