"""Output identity across engines: did two configurations compute the same thing?

Results are grouped by what should make their outputs equal: the model (id, architecture,
weights, seed), the prompts (the input length of every request, the workload's source, seed and
lengths) and greedy decoding. Within a group every result is compared with a reference (the
PyTorch result where there is one, else the first) request by request: the share of requests
whose output token ids are identical (by hash) and, where they differ, the first position where
they do (within the first `head_length` ids each result keeps; beyond that, "after N")."""

from __future__ import annotations

import json
from typing import Optional

from llem.models.source import weights_label
from llem.registry import engines
from llem.results.outputs import compare_outputs


def comparison_key(record: dict) -> Optional[str]:
    """What must be equal for outputs to be comparable; None for results without output ids."""
    outputs = record.get("outputs") or {}
    if not outputs.get("requests") or not outputs.get("greedy"):
        return None
    spec = record.get("spec") or {}
    m, w = spec.get("model") or {}, spec.get("workload") or {}
    key = {
        "model": [m.get("id"), m.get("arch"), m.get("weights"), m.get("seed")],
        "prompts": [
            w.get("source"),
            w.get("path"),
            w.get("seed"),
            w.get("num_prompts"),
            w.get("input_tokens"),
            w.get("output_tokens"),
            (record.get("requests") or {}).get("input_tokens"),
        ],
    }
    return json.dumps(key, sort_keys=True)


def _label(record: dict) -> str:
    ident = record.get("identity") or {}
    return ident.get("run_id") or "?"


def compare(reference: dict, other: dict) -> dict:
    return {
        "run_id": _label(other),
        "backend": (other.get("identity") or {}).get("backend"),
        "reference": _label(reference),
        **compare_outputs(reference["outputs"], other["outputs"]),
    }


def _reference(records: list[dict]) -> dict:
    """The group's record of an engine that declares its outputs the reference (Engine.output_reference), else
    its first."""
    refs = {name for name, e in engines().items() if e.output_reference}
    return next((r for r in records if (r.get("identity") or {}).get("backend") in refs), records[0])


def identity_groups(records: list[dict]) -> list[dict]:
    """Comparable groups of two or more results, each with its reference and the comparisons."""
    groups: dict[str, list[dict]] = {}
    for rec in records:
        key = comparison_key(rec)
        if key is not None:
            groups.setdefault(key, []).append(rec)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ref = _reference(members)
        rows = [compare(ref, m) for m in members if m is not ref]
        out.append(
            {
                "reference": _label(ref),
                "reference_backend": (ref.get("identity") or {}).get("backend"),
                "rows": rows,
                "flags": [_flag(r, _random_weights(ref)) for r in rows if r["diverges_everywhere"]],
            }
        )
    return out


def _random_weights(result: dict) -> bool:
    return weights_label((result.get("spec") or {}).get("model") or {}) == "random"


def _flag(row: dict, random_weights: bool = False) -> str:
    head = f"{row['run_id']}: every request's output differs from {row['reference']} from the first token on: "
    if random_weights:  # seen on an H200: PyTorch, vLLM and llama.cpp disagree at token 0 on random weights
        return head + (
            "with random weights the logits are nearly flat, so greedy picks follow each engine's "
            "rounding (bf16 vs f16 kernels, batch shapes); compare engines on real weights"
        )
    return head + "the engine is probably misconfigured (another tokenizer, chat template, dtype or sampling)"


def identity_lines(groups: list[dict]) -> list[str]:
    """Plain-text lines for the terminal report."""
    lines = []
    for g in groups:
        lines.append(f"output identity against {g['reference']} ({g['reference_backend']}):")
        for r in g["rows"]:
            share = "n/a" if r["identical_share"] is None else f"{r['identical_share']:.0%}"
            where = (
                ""
                if r["first_divergence"] is None
                else f", first divergence at token {r['first_divergence']}"
                + (" or later" if r["first_divergence_beyond_head"] else "")
            )
            lines.append(f"  {r['run_id']} ({r['backend']}): {share} of {r['requests']} requests identical{where}")
        lines += [f"  flag: {f}" for f in g["flags"]]
    return lines
