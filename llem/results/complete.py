"""Whether a job is done: the one rule, and the one typed reader of result.json, used by the job
itself, by the launchers that skip finished jobs before starting anything, and by llem export,
llem verify and llem report.

A job is complete when its run directory holds a result.json (written last and atomically,
llem.cli.app) that validates against the result schema below (status ok, an identity naming this
run, the spec, headline metrics, at least one window, a validity block) and the files the
record names beside it (config.yaml, environment.json) exist. Anything else (a failure record,
an interrupted record, a half-written, unreadable or hollow result, or one whose sibling files
are gone) is not complete: that job is measured again, and a result.json that is not complete
is first moved aside (`result.json.invalid-<unix time>`), never deleted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llem import paths
from llem.results.io import read_json

Number = Optional[Union[int, float]]
_TYPE_NAMES = {"int", "float", "str", "bool", "none"}  # pydantic names a union's members in an error's location
SET_ASIDE = ".invalid-"  # result.json.invalid-<unix s>: a record that did not validate, kept for inspection


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer fields are welcome; these must be there and typed


class _Identity(_Open):
    run_id: str = Field(min_length=1)
    config_hash: str = Field(min_length=1)


class _Spec(_Open):
    backend: dict[str, Any]
    model: dict[str, Any]
    workload: dict[str, Any]
    run: dict[str, Any]


class _Metrics(_Open):
    energy_j_per_output_token: Number
    output_tokens_per_s: Number
    avg_power_w: Number = None


class _Validity(_Open):
    flags: list[str]


class ResultRecord(_Open):
    """The part of result.json every reader relies on (schema versions 1 and 2)."""

    schema_version: int = Field(ge=1)
    status: Literal["ok"]
    identity: _Identity
    spec: _Spec
    metrics: _Metrics
    windows: list[dict[str, Any]] = Field(min_length=1)
    validity: _Validity
    files: dict[str, str] = {}


def result_problem(record: Any, run_dir: Optional[Path] = None) -> Optional[str]:
    """Why `record` is not a complete result (one phrase), or None when it is. With run_dir, the
    sibling files the record names must exist there too."""
    try:
        ResultRecord.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if str(p) not in _TYPE_NAMES) or "the record"
        return f"{where}: {err['msg'].lower()}"
    if run_dir is not None:
        for name in (record.get("files") or {}).values():
            if not (Path(run_dir) / name).is_file():
                return f"{name} is missing beside it"
    return None


def read_result(run_dir: Path) -> tuple[Optional[dict], Optional[str]]:
    """(the complete result in run_dir, None), or (None, why not); (None, None) when there is no result.json."""
    path = Path(run_dir) / paths.RESULT
    if not path.is_file():
        return None, None
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        return None, f"unreadable ({exc.__class__.__name__})"
    problem = result_problem(record, run_dir)
    return (None, problem) if problem else (record, None)


def complete_result(run_dir: Path) -> Optional[dict]:
    """The complete result in run_dir, or None."""
    return read_result(run_dir)[0]


def set_aside(run_dir: Path) -> Optional[Path]:
    """Move an incomplete result.json out of the way (renamed beside it, never deleted); its new path."""
    path = Path(run_dir) / paths.RESULT
    if not path.is_file():
        return None
    dest = path.with_name(f"{paths.RESULT}{SET_ASIDE}{int(time.time())}")
    n = 0
    while dest.exists():
        n += 1
        dest = path.with_name(f"{paths.RESULT}{SET_ASIDE}{int(time.time())}-{n}")
    path.rename(dest)
    return dest


def result_to_keep(spec) -> Optional[dict]:
    """The complete result a job would keep instead of measuring (None: it must run; run.force
    always runs)."""
    if spec.run.force:
        return None
    done = complete_result(paths.spec_run_dir(spec))
    if done is not None and done["identity"]["config_hash"] != spec.config_hash():
        return None  # a result of another configuration (copied or edited in): not this job's
    return done
