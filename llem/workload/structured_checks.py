"""Validation of workload.response_format / workload.schema_path, run by llem.config.spec and llem.config.checks before any
model loads.

Plain rules (no engine import): the spec may import this module. Whether an engine can constrain its output
is its own folder's answer (the registry's `structured` entry, llem/workload/structured.py)."""

from __future__ import annotations

from llem.errors import UserError
from llem.registry import engines, one_of
from llem.workload.structured import read_schema, support_for

# The settings' defaults: a workload without structured output leaves both out of its config hash.
STRUCTURED_DEFAULTS = {"response_format": "text", "schema_path": None}


def check_structured_workload(w) -> None:
    """Field-level rules (WorkloadSpec's validator)."""
    if w.response_format == "text":
        if w.schema_path is not None:
            raise UserError(
                f"workload.schema_path={w.schema_path} constrains outputs only with "
                f"workload.response_format=json_schema, but it is text: set workload.response_format=json_schema "
                f"(or use workload=structured), or drop workload.schema_path."
            )
        return
    if not w.schema_path:
        raise UserError(
            "workload.response_format=json_schema needs workload.schema_path=<file.json>, a JSON Schema file "
            "every output is constrained to and validated against."
        )
    if w.output_lengths == "dataset":
        raise UserError(
            "workload.output_lengths=dataset gives each request a fixed length, but with "
            "workload.response_format=json_schema an output ends where its object ends: use "
            "workload.output_lengths=fixed (workload.output_tokens is then each object's cap)."
        )
    if w.turns > 1:
        raise UserError(
            f"workload.turns={w.turns} (multi-turn sessions) is not measured with "
            f"workload.response_format=json_schema: use workload.turns=1."
        )


def check_structured_job(spec) -> None:
    """Cross-field rules, before any model loads: the schema file is a JSON Schema, the engine (in this mode and
    configuration) can constrain its output to it, and no run setting assumes fixed output lengths."""
    w = spec.workload
    if w.response_format == "text":
        return
    read_schema(w.schema_path)
    if spec.run.phases:
        raise UserError(
            "run.phases=true splits prefill from decode on windows of fixed output length, which "
            "workload.response_format=json_schema does not have: set run.phases=false."
        )
    support = support_for(spec)
    if support is None:
        able = [n for n, e in engines().items() if e.structured is not None]
        raise UserError(
            f"backend={spec.backend_name} cannot constrain its output to a JSON schema in llem: use "
            f"backend={one_of(able)}, or workload.response_format=text."
        )
    if support.refusal:
        raise UserError(support.refusal)
