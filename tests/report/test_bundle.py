"""Result bundles: `llem export` packs runs with a sha256 manifest; `llem verify` answers 0 for a
bundle as written, 1 naming the file for one modified, missing, added or cut short, 2 for
something that is not a bundle; `llem report BUNDLE` reads one and refuses a modified one."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from conftest import run_llem
from realistic import POINTS, write_point_runs, write_trace_run


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("bundle")
    root = cwd / "outputs"
    write_point_runs(root)
    write_trace_run(root)
    for run in (root / "runs").iterdir():  # what a real run dir holds beside its result
        (run / "config.yaml").write_text(f"run_id: {run.name}\n")
        (run / "environment.json").write_text(json.dumps({"python": "3.11.2", "packages": {"torch": "2.5.1"}}))
    out = run_llem(["export", "outputs", "-o", "sweep.tar.gz"], cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stdout
    assert "llem verify sweep.tar.gz" in out.stdout
    return cwd, cwd / "sweep.tar.gz"


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy a bundle, letting change(members) edit, drop or add members (a tar made by hand)."""
    members = _members(src)
    change(members)
    with tarfile.open(dst, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_bundle_holds_every_run_with_checksums(bundle):
    cwd, path = bundle
    members = _members(path)
    manifest = json.loads(members["sweep/manifest.json"])
    assert manifest["format"] == "llem-bundle" and len(manifest["runs"]) == len(POINTS) + 1
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(members[f"sweep/{name}"]).hexdigest() == meta["sha256"]
        assert len(members[f"sweep/{name}"]) == meta["bytes"]
    trace = next(r for r in manifest["runs"] if r["run_id"].endswith("beef"))
    assert set(trace["files"]) == {"result.json", "spec.json", "config.yaml", "environment.json", "timeseries.csv"}
    assert trace["versions"]["python"] == "3.11.2" and trace["versions"]["packages"] == {"torch": "2.5.1"}
    result = json.loads(members[f"sweep/runs/{trace['run_id']}/result.json"])
    assert json.loads(members[f"sweep/runs/{trace['run_id']}/spec.json"]) == result["spec"]
    assert (
        members[f"sweep/runs/{trace['run_id']}/timeseries.csv"]
        == (cwd / "outputs" / "runs" / trace["run_id"] / "timeseries.csv").read_bytes()
    )


def test_export_is_reproducible(bundle):
    cwd, path = bundle
    again = run_llem(["export", "outputs", "-o", "again.tar.gz"], cwd=cwd, timeout=300)
    assert again.returncode == 0, again.stdout
    first, second = _members(path), _members(cwd / "again.tar.gz")
    assert {k.split("/", 1)[1]: v for k, v in first.items()} == {k.split("/", 1)[1]: v for k, v in second.items()}
    header = path.read_bytes()[:10]  # no timestamp and no file name in the gzip header either
    assert header[4:8] == b"\0\0\0\0" and not header[3] & 0x08


def test_verify_ok(bundle):
    cwd, path = bundle
    out = run_llem(["verify", str(path)], cwd=cwd, timeout=120)
    assert out.returncode == 0, out.stdout
    digest = hashlib.sha256(_members(path)["sweep/manifest.json"]).hexdigest()
    assert f"OK: {len(POINTS) + 1} runs" in out.stdout and digest in out.stdout


@pytest.mark.parametrize("what", ["modified", "missing", "added"])
def test_verify_names_the_bad_file(bundle, tmp_path, what):
    cwd, path = bundle
    target = "sweep/runs/pytorch_dynamic_bs1-00000000beef/result.json"

    def change(members):
        if what == "modified":  # one J/token figure edited by hand
            record = json.loads(members[target])
            record["metrics"]["energy_j_per_output_token"] *= 0.9
            members[target] = json.dumps(record).encode()
        elif what == "missing":
            del members[target]
        else:
            members["sweep/runs/pytorch_dynamic_bs1-00000000beef/notes.txt"] = b"added later"

    bad = tmp_path / "bad.tar.gz"
    _rewrite(path, bad, change)
    out = run_llem(["verify", str(bad)], cwd=cwd, timeout=120)
    assert out.returncode == 1, out.stdout
    expected = {
        "modified": "modified: runs/pytorch_dynamic_bs1-00000000beef/result.json (sha256",
        "missing": "incomplete: runs/pytorch_dynamic_bs1-00000000beef/result.json is listed in the manifest but missing",
        "added": "modified: runs/pytorch_dynamic_bs1-00000000beef/notes.txt is in the bundle but not in its manifest",
    }[what]
    assert expected in out.stdout and "FAILED: 1 problem(s)" in out.stdout, out.stdout
    report = run_llem(["report", str(bad), "--no-plots"], cwd=cwd, timeout=120)
    assert report.returncode == 2 and "does not match its manifest" in report.stdout, report.stdout


def test_verify_cut_short_and_not_a_bundle(bundle, tmp_path):
    cwd, path = bundle
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # an interrupted download
    out = run_llem(["verify", str(cut)], cwd=cwd, timeout=120)
    assert out.returncode == 1 and "incomplete: the archive ends early" in out.stdout, out.stdout
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("not an archive")
    out = run_llem(["verify", str(junk)], cwd=cwd, timeout=120)
    assert (
        out.returncode == 2
        and out.stdout.startswith(f"llem: error: {junk} is not a tar archive")
        and "Traceback" not in out.stdout
    )
    assert out.stdout.strip().count("\n") == 0, out.stdout  # one line (tarfile's own message lists every method it tried)
    out = run_llem(["verify", str(tmp_path / "nope.tar.gz")], cwd=cwd, timeout=120)
    assert out.returncode == 2 and "is not a file" in out.stdout


def test_report_reads_a_bundle(bundle):
    cwd, path = bundle
    direct = run_llem(
        ["report", "outputs", "--format", "csv", "--no-plots", "--no-html", "--out", "direct"], cwd=cwd, timeout=300
    )
    packed = run_llem(["report", str(path), "--format", "csv", "--no-plots"], cwd=cwd, timeout=300)
    assert direct.returncode == 0 and packed.returncode == 0, packed.stdout
    assert (cwd / "llem-report-sweep" / "table.csv").read_text() == (cwd / "direct" / "table.csv").read_text()
    assert (cwd / "llem-report-sweep" / "report.html").is_file()
