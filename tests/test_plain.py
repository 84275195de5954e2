"""What crosses the pipe from the measurement worker is builtin data only (llem/run/plain.py): a pickled
torch TorchVersion made llem's own process import torch (~2 s a run) to read a version string."""

import pickle
import pickletools

import numpy as np
import pytest
import torch

from llem.run.plain import plain


def _globals(data) -> list[str]:
    """The classes and functions a pickle refers to by name: none for plain data."""
    return [op.name for op, _, _ in pickletools.genops(pickle.dumps(data)) if op.name in ("GLOBAL", "STACK_GLOBAL", "REDUCE")]


def test_torch_version_is_pickled_by_reference_unless_made_plain():
    raw = {"versions": {"torch": torch.__version__}}
    assert _globals(raw), "TorchVersion no longer pickles by reference: this test's premise is gone"
    out = plain(raw)
    assert out == {"versions": {"torch": str(torch.__version__)}}
    assert type(out["versions"]["torch"]) is str
    assert _globals(out) == []


def test_numbers_and_containers_become_builtins():
    out = plain({"a": np.float64(1.5), "b": np.int64(3), "c": np.bool_(True), "d": (1, 2), "e": {3}, "f": [None, "x", 2.0]})
    assert out == {"a": 1.5, "b": 3, "c": True, "d": [1, 2], "e": [3], "f": [None, "x", 2.0]}
    assert [type(out[k]) for k in "abc"] == [float, int, bool]
    assert _globals(out) == []


def test_anything_else_is_sent_as_text_and_named(caplog):
    class Odd:
        def __str__(self):
            return "odd"

    with caplog.at_level("WARNING"):
        assert plain({"engine": {"x": Odd()}}) == {"engine": {"x": "odd"}}
    assert ".engine.x is a" in caplog.text and "Odd" in caplog.text


@pytest.mark.parametrize("value", [0, -1, 2**70, 0.0, float("inf"), "", "é", True, None])
def test_builtins_pass_unchanged(value):
    out = plain(value)
    assert out == value and type(out) is type(value)  # True stays a bool, not 1


def test_llems_own_process_never_imports_torch_through_a_whole_run(tmp_path):
    """End to end: a PyTorch run through the CLI (its worker imports torch) leaves llem's own process
    without torch, which costs ~2 s of import per run where the result carries a torch object."""
    import subprocess
    import sys

    from conftest import llem_env

    code = (
        "import sys\n"
        "from llem.cli import main\n"
        "rc = main(['model=tiny', 'hardware=cpu', 'tracking=none', 'energy=none', 'run.repeats=1', 'run.warmup=0', '-q', "
        f"'run.output_root={tmp_path / 'out'}'])\n"
        "print('RESULT', rc, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=llem_env(), capture_output=True, text=True, timeout=300)
    assert "RESULT 0 False" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert list((tmp_path / "out" / "runs").glob("*/result.json"))  # it measured
