"""The RAPL meter against a fake powercap tree: zones chosen, wraparound, unreadable counters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from energy_fakes import VirtualClock, make_zone, set_energy

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
    set_energy(z["pkg0"], 1_000_000 + 12_500_000)  # +12.5 J
    set_energy(z["pkg1"], 3_000_000)  # wrapped: 2 J before the top, 3 J after
    set_energy(z["dram0"], 65_000_000 + 1_250_000)  # +1.25 J
    set_energy(z["core0"], 99_999_999)  # part of the package: must not be added
    res = m.end("w")
    assert res.energy_j == {
        "cpu-package-0": pytest.approx(12.5),
        "cpu-package-1": pytest.approx(5.0),
        "dram-0": pytest.approx(1.25),
    }
    assert res.total_j == pytest.approx(18.75)
    assert res.reason is None
    assert res.raw["cpu-package-1"] == {"begin": MAX - 2_000_000, "end": 3_000_000, "unit": "uJ", "max_energy_range_uj": MAX}


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


def _root_only(monkeypatch, *zone_dirs: Path) -> None:
    """energy_uj of these zones raises PermissionError, as on kernels that make it root-only (this process is
    root, which reads any file: the real permission check is the test below, run as user nobody)."""
    denied = {(d / "energy_uj").resolve() for d in zone_dirs}
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        if self.resolve() in denied:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)


def test_an_unreadable_zone_is_skipped_when_another_can_be_read(tmp_path, monkeypatch):
    first = make_zone(tmp_path / "intel-rapl:0", "package-0", 10)
    make_zone(tmp_path / "intel-rapl:1", "package-1", 20)
    _root_only(monkeypatch, first)
    assert [z.key for z in discover_zones(tmp_path)] == ["cpu-package-1"]


def test_every_zone_unreadable_names_the_first_file_and_the_fix(tmp_path, monkeypatch):
    zones = [make_zone(tmp_path / f"intel-rapl:{i}", f"package-{i}", 10) for i in (0, 1)]
    _root_only(monkeypatch, *zones)
    with pytest.raises(RaplUnavailable) as err:
        discover_zones(tmp_path)
    assert str(err.value) == (
        f"RAPL is present but {zones[0].resolve() / 'energy_uj'} is not readable by this user (recent kernels make "
        f"energy_uj root-only): run as root or grant read access, e.g. sudo chmod a+r {tmp_path}/*/energy_uj"
    )


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
        code = (
            "from llem.energy.rapl import discover_zones, RaplUnavailable\n"
            f"try:\n    discover_zones({str(root)!r})\nexcept RaplUnavailable as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [exe, "-c", code],
            user=65534,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
        )
        assert out.returncode == 0, out.stderr
        assert "not readable by this user" in out.stdout and "chmod a+r" in out.stdout
    finally:
        shutil.rmtree(root)


# --- calibration, describe() and reasons, exactly (mutation testing found these unchecked) ------


def test_calibration_measures_the_counter_period_on_a_virtual_clock(tmp_path):
    zone = make_zone(tmp_path / "intel-rapl:0", "package-0", 0)
    clock = VirtualClock()
    t0 = clock.t

    def sleep(dt):  # the counter moves by 1 mJ every 1 ms of virtual time
        clock.sleep(dt)
        set_energy(zone, int((clock.t - t0) * 1000) * 1000)

    m = RaplMeter(tmp_path, clock=clock.now, sleep=sleep)
    assert m.update_period_s == pytest.approx(0.001, abs=0.0003)  # polled every 0.2 ms
    assert clock.t - t0 < 0.02  # a few periods, not the whole timeout
    m.begin("w")
    clock.sleep(0.5)
    set_energy(zone, int((clock.t - t0) * 1000) * 1000)
    res = m.end("w")
    assert res.update_period_s == m.update_period_s and res.energy_j == {"cpu-package-0": pytest.approx(0.5, abs=0.002)}

    stalled = make_zone(tmp_path / "stalled" / "intel-rapl:0", "package-0", 5)
    clock2 = VirtualClock()
    m2 = RaplMeter(stalled.parent, clock=clock2.now, sleep=clock2.sleep)
    assert m2.update_period_s is None
    assert 0.2 <= clock2.t - 1000.0 <= 0.2 + 0.001  # gave up after its 0.2 s timeout


def test_describe_word_for_word(tmp_path):
    intel_tree(tmp_path)
    m = RaplMeter(tmp_path, calibrate=False)
    assert m.update_period_s is None
    assert m.describe() == {
        "meter": "rapl",
        "measures": "RAPL energy counters (CPU package and DRAM) from powercap, read at window edges",
        "root": str(tmp_path),
        "devices": {
            "cpu-package-0": str((tmp_path / "intel-rapl:0").resolve()),
            "cpu-package-1": str((tmp_path / "intel-rapl:1").resolve()),
            "dram-0": str((tmp_path / "intel-rapl:0" / "intel-rapl:0:1").resolve()),
        },
        "update_period_s": None,
        "caveats": [
            "RAPL is a model-assisted on-die estimate on some CPUs (notably pre-Haswell and AMD "
            "DRAM); it covers CPU and DRAM only, not the rest of the host"
        ],
    }


def test_window_record_and_reasons_word_for_word(tmp_path):
    z = intel_tree(tmp_path)
    clock = VirtualClock()
    m = RaplMeter(tmp_path, clock=clock.now, sleep=clock.sleep, calibrate=False)
    m.begin("w")
    clock.sleep(2.0)
    set_energy(z["pkg0"], 1_000_000 + 3_000_000)
    (z["dram0"] / "energy_uj").unlink()
    res = m.end("w")
    assert res.meter == "rapl" and res.duration_s == 2.0 and res.update_period_s is None
    assert res.energy_j == {"cpu-package-0": 3.0, "cpu-package-1": None, "dram-0": None} and res.total_j is None
    pkg1, dram = (tmp_path / "intel-rapl:1").resolve(), (tmp_path / "intel-rapl:0" / "intel-rapl:0:1").resolve()
    assert res.reason == (
        f"cpu-package-1: {pkg1 / 'energy_uj'} did not move over the 2.00 s window (a stalled or "
        f"virtualised counter): that is no measurement, not 0 J; "
        f"dram-0: reading {dram / 'energy_uj'} failed"
    )


def test_zone_keys_come_from_the_zone_name_and_odd_zones_do_not_stop_discovery(tmp_path):
    make_zone(tmp_path / "intel-rapl:0", "psys", 1)  # not a package or DRAM: skipped, discovery goes on
    (tmp_path / "intel-rapl:1").mkdir()  # no name file: skipped too
    make_zone(tmp_path / "intel-rapl:2", "package-1", 10)  # the name's index, not the folder's
    bad = make_zone(tmp_path / "intel-rapl:3", "package-5", 10)
    (bad / "max_energy_range_uj").write_text("not a number\n")  # unparsable: skipped
    make_zone(tmp_path / "intel-rapl:4", "package-0", 10)
    assert [z.key for z in discover_zones(tmp_path)] == ["cpu-package-0", "cpu-package-1"]


def test_a_failed_first_zone_does_not_hide_the_others(tmp_path):
    z = intel_tree(tmp_path)
    clock = VirtualClock()
    m = RaplMeter(tmp_path, clock=clock.now, sleep=clock.sleep, calibrate=False)
    m.begin("w")
    (z["pkg0"] / "energy_uj").unlink()
    set_energy(z["pkg1"], MAX - 1_000_000)
    set_energy(z["dram0"], 65_000_000 + 500_000)
    res = m.end("w")
    assert res.energy_j == {"cpu-package-0": None, "cpu-package-1": 1.0, "dram-0": 0.5}
