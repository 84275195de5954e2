"""The RAPL meter against a fake powercap tree: zones chosen, wraparound, unreadable counters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from energy_fakes import make_zone, set_energy

from llem.energy.rapl import RaplMeter, RaplUnavailable, discover_zones

REPO = Path(__file__).resolve().parents[2]
MAX = 262143328850  # a typical package max_energy_range_uj


def intel_tree(root: Path) -> dict:
    """Two packages with core and DRAM subzones, a psys zone and an MMIO duplicate."""
    z = {
        "pkg0": make_zone(root / "intel-rapl:0", "package-0", 1_000_000),
        "core0": make_zone(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 500_000),
        "dram0": make_zone(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 65_000_000, max_uj=65_532_610_987),
        "pkg1": make_zone(root / "intel-rapl:1", "package-1", MAX - 2_000_000),
        "psys": make_zone(root / "intel-rapl:2", "psys", 7),
        "mmio": make_zone(root / "intel-rapl-mmio:0", "package-0", 3),
    }
    (root / "intel-rapl").mkdir()  # the control-type directory, no counter
    return z


def test_zones_are_packages_and_dram_only(tmp_path):
    intel_tree(tmp_path)
    keys = [z.key for z in discover_zones(tmp_path)]
    assert keys == ["cpu-package-0", "cpu-package-1", "dram-0"]


def test_window_joules_with_wraparound(tmp_path):
    z = intel_tree(tmp_path)
    m = RaplMeter(tmp_path, calibrate=False)
    m.begin("w")
    set_energy(z["pkg0"], 1_000_000 + 12_500_000)   # +12.5 J
    set_energy(z["pkg1"], 3_000_000)                # wrapped: 2 J before the top, 3 J after
    set_energy(z["dram0"], 65_000_000 + 1_250_000)  # +1.25 J
    set_energy(z["core0"], 99_999_999)              # part of the package: must not be added
    res = m.end("w")
    assert res.energy_j == {"cpu-package-0": pytest.approx(12.5), "cpu-package-1": pytest.approx(5.0),
                            "dram-0": pytest.approx(1.25)}
    assert res.total_j == pytest.approx(18.75)
    assert res.reason is None
    assert res.raw["cpu-package-1"] == {"begin": MAX - 2_000_000, "end": 3_000_000, "unit": "uJ",
                                        "max_energy_range_uj": MAX}


def test_amd_zone_names(tmp_path):
    make_zone(tmp_path / "amd-rapl:0", "package", 10)
    make_zone(tmp_path / "amd-rapl:0" / "amd-rapl:0:0", "dram", 10)
    assert [z.key for z in discover_zones(tmp_path)] == ["cpu-package-0", "dram-0"]


def test_env_var_selects_the_root(tmp_path, monkeypatch):
    make_zone(tmp_path / "intel-rapl:0", "package-0", 10)
    monkeypatch.setenv("LLEM_POWERCAP_ROOT", str(tmp_path))
    assert RaplMeter(calibrate=False).describe()["root"] == str(tmp_path)


def test_a_counter_that_vanishes_mid_run_is_null_with_reason(tmp_path):
    z = intel_tree(tmp_path)
    m = RaplMeter(tmp_path, calibrate=False)
    m.begin("w")
    (z["dram0"] / "energy_uj").unlink()
    res = m.end("w")
    assert res.energy_j["dram-0"] is None and res.total_j is None
    assert "dram-0" in res.reason
    # the package counter did not move either: stalled, which is no measurement (not "a measured zero")
    assert res.energy_j["cpu-package-0"] is None and "did not move" in res.reason


def test_missing_powercap(tmp_path):
    with pytest.raises(RaplUnavailable, match="does not exist"):
        discover_zones(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RaplUnavailable, match="no RAPL package"):
        discover_zones(tmp_path / "empty")


def _python_as_nobody() -> str | None:
    for exe in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        try:
            if exe and subprocess.run([exe, "-c", "pass"], user=65534, capture_output=True).returncode == 0:
                return exe
        except OSError:
            continue
    return None


def test_root_only_energy_uj_says_how_to_fix(tmp_path):
    """Recent kernels make energy_uj root-only: read the tree as an unprivileged user."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a root-only file and drop to another user")
    exe = _python_as_nobody()
    if exe is None:
        pytest.skip("no Python interpreter runnable by user nobody")
    root = Path(tempfile.mkdtemp(prefix="llem-powercap-"))
    try:
        root.chmod(0o755)
        zone = make_zone(root / "intel-rapl:0", "package-0", 10)
        for p in (zone, *zone.iterdir()):
            p.chmod(0o755 if p.is_dir() else 0o444)
        (zone / "energy_uj").chmod(0o400)
        code = ("from llem.energy.rapl import discover_zones, RaplUnavailable\n"
                f"try:\n    discover_zones({str(root)!r})\nexcept RaplUnavailable as e:\n    print(e)\n")
        out = subprocess.run([exe, "-c", code], user=65534, capture_output=True, text=True,
                             env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")})
        assert out.returncode == 0, out.stderr
        assert "not readable by this user" in out.stdout and "chmod a+r" in out.stdout
    finally:
        shutil.rmtree(root)
