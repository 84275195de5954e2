"""Result bundles: the run directories of a set of runs in one .tar.gz with a manifest of sha256
checksums, so a colleague can check that what they received is complete and unmodified.

Layout (one top folder, named like the file):

    <stem>/manifest.json                  format, llem version, per-run identity and hashes, and
                                          {path: {sha256, bytes}} of every other file
    <stem>/runs/<run_id>/result.json      (or failure.json, traceback.txt)
    <stem>/runs/<run_id>/spec.json        the resolved spec the run measured (from its record)
    <stem>/runs/<run_id>/config.yaml      the resolved Hydra config
    <stem>/runs/<run_id>/environment.json versions of Python, the engine and its libraries, GPUs
    <stem>/runs/<run_id>/timeseries.csv   where the sampler recorded one
    <stem>/runs/<run_id>/server.json      server mode: the server's command line

The manifest cannot vouch for itself: `llem verify` prints its sha256 for the sender and the
receiver to compare over another channel. Archives are reproducible (sorted entries, fixed
owner and times, gzip without a timestamp), so the same runs give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Optional

from llem import paths
from llem.results.complete import result_problem

FORMAT = "llem-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# a run directory's files that go in (server.json: server mode's command line and version)
RUN_FILES = (paths.RESULT, paths.FAILURE, paths.TRACEBACK, paths.CONFIG, paths.ENVIRONMENT, paths.SERVER)
SUFFIX = ".tar.gz"


class BundleError(Exception):
    """The archive is not a bundle at all (bad input, not a verification failure)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_stem(path: Path) -> str:
    name = Path(path).name
    for suffix in (SUFFIX, ".tgz", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _run_files(run) -> dict[str, bytes]:
    """{name: bytes} of one run: its files on disk plus spec.json from its record."""
    out = {}
    rec = run.record
    names = list(RUN_FILES)
    ts = rec.get("timeseries")
    names.append(str(ts["file"]) if isinstance(ts, dict) and ts.get("file") else paths.TIMESERIES)
    for name in names:
        path = Path(run.run_dir) / name
        if PurePosixPath(name).name == name and path.is_file():
            out[name] = path.read_bytes()
    out["spec.json"] = (json.dumps(rec.get("spec") or {}, indent=2, sort_keys=True) + "\n").encode()
    return out


def _run_entry(run, files: dict[str, bytes]) -> dict:
    rec = run.record
    ident = rec.get("identity", {})
    env = json.loads(files[paths.ENVIRONMENT]) if paths.ENVIRONMENT in files else {}
    outputs = (rec.get("outputs") or {}).get("requests")
    return {
        "run_id": ident.get("run_id"),
        "status": rec.get("status"),
        "config_hash": ident.get("config_hash"),
        "versions": {
            "llem": ident.get("llem_version"),
            "llem_git_revision": ident.get("llem_git_revision"),
            "engine": ident.get("engine"),
            "engine_version": ident.get("engine_version"),
            "python": env.get("python"),
            "packages": env.get("packages"),
        },
        "prompt_token_ids_sha256": (rec.get("requests") or {}).get("prompt_token_ids_sha256"),
        # per request, the sha256 of its output token ids (the first window's; null where the engine gives none)
        "output_ids_sha256": [q.get("sha256") for q in outputs] if outputs else None,
        "files": sorted(files),
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_bundle(runs: list, out: Path, source: str) -> dict:
    """Write the runs (llem.report.collect.Run with a run_dir) as a bundle at `out`; returns the manifest."""
    import llem

    out = Path(out)
    stem = bundle_stem(out)
    entries, payload = [], {}
    for run in sorted(runs, key=lambda r: str(r.record.get("identity", {}).get("run_id"))):
        run_id = str(run.record.get("identity", {}).get("run_id") or Path(run.run_dir).name)
        files = _run_files(run)
        entries.append(_run_entry(run, files))
        for name, data in files.items():
            payload[f"runs/{run_id}/{name}"] = data
    created = int(max((r.record.get("identity", {}).get("finished_unix_s") or 0) for r in runs) or time.time())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "llem_version": llem.__version__,
        "source": source,
        "created_unix_s": created,
        "runs": entries,
        "files": {p: {"sha256": sha256_bytes(d), "bytes": len(d)} for p, d in sorted(payload.items())},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _add(tar, f"{stem}/{MANIFEST}", (json.dumps(manifest, indent=2) + "\n").encode(), created)
            for name, data in sorted(payload.items()):
                _add(tar, f"{stem}/{name}", data, created)
        os.replace(tmp, out)  # a bundle is either whole or absent
    finally:
        Path(tmp).unlink(missing_ok=True)
    return manifest


def _safe(name: str) -> Optional[str]:
    """The member's path below the bundle's top folder, or None if it would escape it."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 2:
        return None
    return str(PurePosixPath(*p.parts[1:]))


def read_members(path: Path) -> tuple[dict[str, bytes], list[str]]:
    """({path below the top folder: bytes}, problems) of the archive's regular files.
    BundleError if it is not a tar archive; a truncated one yields what was read and a problem."""
    files, problems = {}, []
    try:
        tar = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(":")  # tarfile lists every method tried
        raise BundleError(f"{path} is not a tar archive, plain or compressed, as llem export writes ({first})") from None
    with tar:
        try:
            for member in tar:
                rel = _safe(member.name)
                if member.isdir():
                    continue
                if rel is None or not member.isfile():
                    problems.append(f"modified: {member.name} is not a plain file inside the bundle's folder")
                    continue
                files[rel] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
            problems.append(f"incomplete: the archive ends early or is damaged after {len(files)} files ({exc})")
    return files, problems


def verify(path: Path) -> tuple[Optional[dict], list[str], Optional[str]]:
    """(manifest, problems, manifest sha256). No problems: complete and matching its manifest."""
    files, problems = read_members(Path(path))
    raw = files.pop(MANIFEST, None)
    if raw is None:
        return None, problems + [f"incomplete: no {MANIFEST} in the bundle"], None
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        return None, problems + [f"modified: {MANIFEST} is not valid JSON ({exc})"], sha256_bytes(raw)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is a tar archive but not an llem bundle (its {MANIFEST} has no format {FORMAT!r})")
    listed = manifest.get("files") or {}
    for name, meta in sorted(listed.items()):
        if name not in files:
            problems.append(f"incomplete: {name} is listed in the manifest but missing")
        elif sha256_bytes(files[name]) != meta.get("sha256"):
            problems.append(
                f"modified: {name} (sha256 {sha256_bytes(files[name])[:16]}..., "
                f"the manifest says {str(meta.get('sha256'))[:16]}...)"
            )
    for name in sorted(set(files) - set(listed)):
        problems.append(f"modified: {name} is in the bundle but not in its manifest")
    problems += _hollow_results(files)
    return manifest, problems, sha256_bytes(raw)


def _hollow_results(files: dict[str, bytes]) -> list[str]:
    """A result.json in the bundle that is not a complete result (llem.results.complete): the
    manifest may vouch for its bytes, but not for what they say."""
    out = []
    for name, data in sorted(files.items()):
        p = PurePosixPath(name)
        if p.name != paths.RESULT:
            continue
        try:
            record = json.loads(data)
        except ValueError as exc:
            out.append(f"invalid: {name} is not valid JSON ({exc})")
            continue
        problem = result_problem(record)
        siblings = [f for f in (record.get("files") or {}).values()] if isinstance(record, dict) and not problem else []
        missing = [f for f in siblings if str(p.parent / f) not in files]
        if problem or missing:
            out.append(f"invalid: {name} is not a complete result ({problem or missing[0] + ' is missing beside it'})")
    return out


def extract_verified(path: Path, dest: Path) -> Path:
    """Write the bundle's files under dest (only paths its manifest lists); dest/runs is the output
    root a report reads. The caller has verified the bundle."""
    files, _ = read_members(Path(path))
    manifest = json.loads(files[MANIFEST])
    for name in manifest["files"]:
        target = Path(dest) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])
    return Path(dest)
