"""Structured output: every output constrained by the engine to a JSON schema (workload.response_format=json_schema,
workload.schema_path), then validated by llem against the same schema (docs/workloads.md).

- The schema: one JSON Schema file, read and checked before any model loads (`read_schema`); its bytes are part
  of the run's identity (llem/workload/fingerprint.py hashes every `*_path` input).
- What an engine can do: its folder's `structured` entry (llem/registry.py), "module:function" (spec) ->
  StructuredSupport: its grammar backend, how the schema reaches it, the request fields its server takes, or in
  one sentence why this mode or configuration cannot constrain. An engine without the entry is refused.
- Lengths: an object ends where it ends. No ignore_eos, min_tokens or end-of-generation bias is sent;
  workload.output_tokens is the cap (max_tokens). Tokens per object are the engine's count of what it generated.
- Validation, outside the energy windows: each output is parsed as JSON and checked with the `jsonschema`
  package (the draft the schema's $schema names, else the newest it knows; formats not asserted).
- Grammar compile, outside the windows: before warm-up, one 1-token request without the schema (the engine's
  first-request costs), then one with it (cold: the engine compiles the grammar) and the same again (warm: its
  grammar cache); compile_s = cold - warm. An engine that compiles per request (llama.cpp) pays that inside the
  windows, as deployed, and its record says so.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from llem.errors import UserError
from llem.registry import backend_info, load_object
from llem.results.stats import percentile, summarize

SCHEMA_NAME = "llem_schema"  # the name OpenAI-style response_format.json_schema requires
TEXT_HEAD = 200  # characters of an output kept as an example in the record


@dataclass(frozen=True)
class StructuredSupport:
    """What one engine, in this job's mode and configuration, does with a JSON schema."""

    grammar_backend: str  # as configured, or the engine's documented default (the resolved one is in describe())
    how: str  # how the schema reaches the engine, for the record
    # schema -> the request fields that constrain an output on the engine's server (None: offline only)
    server_body: Optional[Callable[[dict], dict]] = None
    refusal: Optional[str] = None  # one sentence: why this mode or configuration cannot constrain; None: it can


def response_format(schema: dict) -> dict:
    """The OpenAI request field that asks for the schema: response_format of type json_schema (vLLM's and SGLang's
    servers take it on /v1/completions and /v1/chat/completions)."""
    return {"response_format": {"type": "json_schema", "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True}}}


def support_for(spec) -> Optional[StructuredSupport]:
    """The engine's answer for this job, or None where its folder declares no structured output."""
    target = backend_info(spec.backend_name).structured
    return None if target is None else load_object(target)(spec)


def structured(spec) -> bool:
    return spec.workload.response_format == "json_schema"


# --------------------------------------------------------------------------------------------- the schema


def _jsonschema():
    try:
        import jsonschema
    except ImportError:
        raise UserError(
            "workload.response_format=json_schema validates every output with the Python package "
            "'jsonschema', which is not installed: run pip install 'llem[structured]'."
        ) from None
    return jsonschema


def read_schema(path: str) -> dict:
    """The schema in `path` as a dict, checked to be a JSON Schema (one sentence naming the file otherwise)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(
            f"workload.schema_path={path} does not exist: give a JSON Schema file, a JSON object such as "
            f'{{"type": "object", "properties": {{...}}}}.'
        )
    st = p.stat()
    return json.loads(_read(str(p.resolve()), st.st_mtime_ns, st.st_size, path))


@lru_cache(maxsize=16)
def _read(resolved: str, _mtime_ns: int, _size: int, shown: str) -> str:
    """The schema's canonical JSON text, per file version (a string: callers get their own dict)."""
    try:
        schema = json.loads(Path(resolved).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"workload.schema_path={shown} is not UTF-8 text (byte {exc.start}): give a JSON Schema file.") from None
    except ValueError as exc:
        raise UserError(f"workload.schema_path={shown} is not JSON ({exc}): give a JSON Schema file, a JSON object.") from None
    if not isinstance(schema, dict):
        raise UserError(
            f"workload.schema_path={shown} holds a JSON {type(schema).__name__}, not a JSON Schema object: "
            f'give a JSON object such as {{"type": "object", "properties": {{...}}}}.'
        )
    js = _jsonschema()
    try:
        js.validators.validator_for(schema).check_schema(schema)
    except js.exceptions.SchemaError as exc:
        where = "/".join(str(x) for x in exc.absolute_path) or "its top level"
        raise UserError(
            f"workload.schema_path={shown} is not a valid JSON Schema (at {where}: {exc.message}): fix the schema."
        ) from None
    return json.dumps(schema)  # the user's key order kept: it is the order engines generate properties in


def validator(schema: dict):
    js = _jsonschema()
    return js.validators.validator_for(schema)(schema)


def check_output(check, text: str) -> Optional[str]:
    """None where `text` is one JSON value that the schema accepts, else why not (short)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON ({exc.msg.removesuffix(' at')} at character {exc.pos})"
    error = next(iter(check.iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(x) for x in error.absolute_path) or "top level"
    return f"schema: {error.message[:160]} (at {where})"


# --------------------------------------------------------------------------------------------- records


def window_record(
    check,
    texts: list[Optional[str]],
    tokens: list[int],
    cap: int,
    energy_j: Optional[float],
    dynamic_j: Optional[float],
    ids: Optional[list[str]] = None,
    reason: Optional[str] = None,
) -> dict:
    """One window's structured-output record: every request's text (None: not handed over) validated, its output
    tokens, the cap; joules per valid object from the window's energy (all its requests' work)."""
    if reason is not None or any(t is None for t in texts):
        return {
            "objects": len(tokens),
            "valid": None,
            "valid_fraction": None,
            "energy_j_per_valid_object": None,
            "reason": reason or "the engine handed over no output text for some requests",
            "tokens_per_object": None,
        }
    verdicts = [check_output(check, t) for t in texts]
    valid = sum(v is None for v in verdicts)
    kinds = Counter(_kind(v) for v in verdicts if v is not None)
    n = len(texts)
    at_cap = sum(t >= cap for t in tokens)
    bad = next(((i, v) for i, v in enumerate(verdicts) if v is not None), None)
    why = None
    if not valid:
        why = "no valid object in the window"
    elif energy_j is None:
        why = "no energy measured in this window"
    return {
        "objects": n,
        "valid": valid,
        "valid_fraction": valid / n if n else None,
        "at_cap": at_cap,  # outputs that used every token of the cap: likely cut off
        "tokens_per_object": sum(tokens) / n if n else None,
        "tokens_per_object_min": min(tokens) if tokens else None,
        "tokens_per_object_median": percentile(tokens, 50),
        "tokens_per_object_max": max(tokens) if tokens else None,
        "energy_j_per_valid_object": energy_j / valid if energy_j is not None and valid else None,
        "dynamic_energy_j_per_valid_object": dynamic_j / valid if dynamic_j is not None and valid else None,
        "reason": why,
        "invalid_reasons": dict(kinds.most_common()),  # why outputs failed, positions left out, with their counts
        "first_invalid": None
        if bad is None
        else {"request": ids[bad[0]] if ids else bad[0], "why": bad[1], "text_head": texts[bad[0]][:TEXT_HEAD]},
        "example": texts[0][:TEXT_HEAD] if texts else None,
    }


def _kind(reason: str) -> str:
    """A reason without where it happened: "not JSON (Invalid control character at character 73)" -> "not JSON
    (Invalid control character)"."""
    return re.sub(r" at character \d+| \(at [^)]*\)$", "", reason)


RULE = (
    "each output parsed as JSON and validated against workload.schema_path with the jsonschema package, outside the "
    "windows; valid_fraction: valid objects / outputs; tokens_per_object: the engine's output tokens per output (the "
    "model's lengths, capped at workload.output_tokens); energy_j_per_valid_object: a window's joules / its valid "
    "objects (offline: every pass of the window; server: the whole-run window)"
)


def summary(
    spec,
    windows: list[dict],
    support: StructuredSupport,
    grammar: Optional[dict],
    engine_grammar: Optional[dict],
    what: str = "window",
) -> tuple[dict, list[str]]:
    """The job's `structured` block from its windows' records, and flags (invalid objects, outputs at the cap)."""
    recs = [w.get("structured") for w in windows]
    recs = [r for r in recs if r is not None]
    counted = [r for r in recs if r.get("valid") is not None]
    objects = sum(r["objects"] for r in counted)
    valid = sum(r["valid"] for r in counted)
    at_cap = sum(r["at_cap"] for r in counted)
    per_valid = [r["energy_j_per_valid_object"] for r in counted]
    measured = [x for x in per_valid if x is not None]
    reasons = [r["reason"] for r in recs if r.get("reason")]
    flags = []
    for i, r in enumerate(recs):
        if r.get("valid") is not None and r["valid"] < r["objects"]:
            flags.append(
                f"structured_invalid: {what} {i}: {r['objects'] - r['valid']} of {r['objects']} outputs do not "
                f"validate against workload.schema_path (first: {r['first_invalid']['why']})"
            )
    if at_cap:
        flags.append(
            f"structured_at_cap: {at_cap} of {objects} outputs used all workload.output_tokens="
            f"{spec.workload.output_tokens} tokens (cut off, or still going): raise workload.output_tokens"
        )
    w = spec.workload
    block = {
        "response_format": w.response_format,
        "schema_path": w.schema_path,
        "grammar_backend": (engine_grammar or {}).get("grammar_backend") or support.grammar_backend,
        "grammar_backend_source": "resolved by the engine"
        if (engine_grammar or {}).get("grammar_backend")
        else "as configured (the engine's default where unset)",
        "how": support.how,
        "engine": engine_grammar,
        "objects": objects if counted else None,
        "valid_objects": valid if counted else None,
        "valid_fraction": valid / objects if objects else None,
        "valid_fraction_per_window": [r.get("valid_fraction") for r in recs],
        "tokens_per_object": (sum(r["tokens_per_object"] * r["objects"] for r in counted) / objects) if objects else None,
        "outputs_at_cap": at_cap if counted else None,
        "energy_j_per_valid_object": sum(measured) / len(measured) if measured else None,
        "energy_j_per_valid_object_stats": summarize(per_valid) if measured else None,
        "dynamic_energy_j_per_valid_object": _mean([r["dynamic_energy_j_per_valid_object"] for r in counted]),
        "reason": None if measured else (reasons[0] if reasons else "no window measured"),
        "output_lengths": (
            f"the model's: each output ends where its object ends (no ignore_eos, min_tokens or "
            f"end-of-generation bias); workload.output_tokens={w.output_tokens} is the cap"
        ),
        "grammar_compile": grammar,
        "rule": RULE,
    }
    return block, flags


def _mean(values: list) -> Optional[float]:
    xs = [x for x in values if x is not None]
    return sum(xs) / len(xs) if xs else None


def grammar_phase(one: Callable[[bool], float], progress: Callable[[str], None], note: Optional[str] = None) -> dict:
    """Time one 1-token request without the schema, then two with it: the first pays the grammar's compilation, the
    second finds it in the engine's cache. `one(constrained)` runs a request and returns its seconds."""
    progress("grammar compile phase (not measured): one request without the schema, two with it")
    plain = one(False)
    cold = one(True)
    warm = one(True)
    return {
        "compile_s": cold - warm,
        "first_constrained_request_s": cold,
        "repeat_constrained_request_s": warm,
        "unconstrained_request_s": plain,
        "rule": (
            "before warm-up and outside every window: 1-token requests on the first prompt, one without the "
            "schema, then two with it; compile_s = first constrained - repeat (the engine compiles the grammar "
            "for the first and finds it in its cache for the second; near 0 where it compiles per request)"
        ),
        "note": note,
    }


def timed(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0
