"""`llem export SOURCE [-o FILE]` and `llem verify BUNDLE` (the bundle format: llem/bundle/archive.py)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from llem.bundle.archive import SUFFIX, BundleError, verify, write_bundle
from llem.errors import UserError
from llem.host.progress import console
from llem.report.collect import collect, skipped_lines


def _export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llem export",
        description="Pack runs (config, resolved spec, versions, environment, "
        "token-id hashes, results, time series) into one .tar.gz with a sha256 manifest.",
    )
    p.add_argument(
        "source", nargs="?", default="outputs", help="sweep dir, output root, run dir, or mlflow:EXPERIMENT (default: outputs)"
    )
    p.add_argument("-o", "--output", help="bundle file (default: ./llem-bundle-<SOURCE name>.tar.gz)")
    p.add_argument("--uri", help="MLflow tracking URI for mlflow:EXPERIMENT (default: sqlite:///mlflow.db)")
    return p


def _default_output(source: str) -> Path:
    name = source.split(":", 1)[1] or "llem" if source.startswith("mlflow:") else Path(source).resolve().name
    return Path(f"llem-bundle-{name}.tar.gz")


def _check_target(out: Path) -> None:
    """The bundle's place must take a new file: checked before any run is read or downloaded."""
    if out.is_dir():
        raise UserError(f"-o {out} is a folder: give a file name, e.g. -o {out / 'runs.tar.gz'}.")
    if out.exists() and not out.is_file():
        raise UserError(f"-o {out} is not a regular file (a device or a pipe): give a file name ending in {SUFFIX}.")
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"-o {out}: {probe} is not a folder, so the bundle cannot be written there.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"-o {out}: the folder {probe} is not writable: choose another place for the bundle.")


def export_main(argv: list[str]) -> int:
    args = _export_parser().parse_args(argv)
    out = Path(args.output) if args.output else _default_output(args.source)
    try:
        if not out.name.endswith(SUFFIX):
            raise UserError(f"-o {out} does not end in {SUFFIX}: name the bundle e.g. {out.name}{SUFFIX}.")
        _check_target(out)
        with tempfile.TemporaryDirectory(prefix="llem-export-") as cache:
            runs = [r for r in collect(args.source, args.uri, Path(cache)) if r.run_dir is not None]
            for line in skipped_lines():
                print(f"llem export: {line}", file=sys.stderr)
            if not runs:
                raise UserError(
                    f"{args.source} holds no finished runs (no result.json or failure.json found): nothing to export."
                )
            manifest = write_bundle(runs, out, args.source)
    except UserError as exc:
        print(f"llem: error: {exc}", file=sys.stderr)
        return 2
    console().print(
        f"[bold]llem export[/bold] wrote {out}: {len(manifest['runs'])} runs, {len(manifest['files'])} files "
        f"with sha256 checksums; check it with: llem verify {out}"
    )
    return 0


def verify_main(argv: list[str]) -> int:
    """0: complete and unmodified; 1: a file is modified, missing or extra (each named); 2: not a bundle."""
    p = argparse.ArgumentParser(
        prog="llem verify", description="Check that a bundle from llem export is complete and unmodified."
    )
    p.add_argument("bundle")
    args = p.parse_args(argv)
    path = Path(args.bundle)
    try:
        if not path.is_file():
            raise BundleError(f"{path} is not a file: give a bundle written by llem export (.tar.gz)")
        manifest, problems, digest = verify(path)
    except BundleError as exc:
        print(f"llem: error: {exc}.", file=sys.stderr)
        return 2
    for line in problems:
        print(f"llem verify: {line}")
    if problems:
        print(f"llem verify: {path} FAILED: {len(problems)} problem(s)")
        return 1
    print(
        f"llem verify: {path} OK: {len(manifest['runs'])} runs, {len(manifest['files'])} files match the manifest "
        f"(manifest sha256 {digest}: compare it with the sender's)"
    )
    return 0
