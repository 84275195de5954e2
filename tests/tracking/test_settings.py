"""Tracking settings are validated before any model loads; mlflow stays out of --help and validation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llem.errors import UserError
from llem.tracking.settings import mlflow_settings, resolve_uri
from conftest import llem_env, run_llem


@pytest.mark.parametrize(
    "uri,needle",
    [
        ("ftp://host/x", "has scheme 'ftp'"),
        ("mlflow.db", "has no scheme"),
        ("http://", "names no host"),
        ("sqlite://mlflow.db", "not a SQLite URI"),
    ],
)
def test_bad_uri_is_one_sentence(uri, needle):
    with pytest.raises(UserError) as err:
        mlflow_settings({"name": "mlflow", "uri": uri})
    assert needle in str(err.value) and str(err.value).count(". ") == 0


def test_unknown_setting_names_the_valid_ones():
    with pytest.raises(UserError, match=r"tracking.url is not a setting of tracking=mlflow: use uri, experiment"):
        mlflow_settings({"name": "mlflow", "url": "http://x"})


def test_relative_sqlite_is_the_working_dir(tmp_path):
    assert resolve_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert resolve_uri("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert resolve_uri("http://h:5000", tmp_path) == "http://h:5000"


def test_cli_rejects_bad_uri_with_exit_2_before_loading(tmp_path):
    out = run_llem(["model=tiny", "hardware=cpu", "tracking.uri=htp://localhost:5000"], cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert out.stdout.strip().startswith("llem: error: tracking.uri=htp://localhost:5000 has scheme 'htp'")
    assert "Traceback" not in out.stdout and not (tmp_path / "outputs").exists()


def test_validation_and_help_do_not_import_mlflow_or_matplotlib(tmp_path):
    code = (
        "import sys\n"
        "from llem.cli import prevalidate, main\n"
        "prevalidate(['model=tiny', 'hardware=cpu', 'tracking=mlflow'])\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('mlflow', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=llem_env(), capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
