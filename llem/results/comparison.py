"""The comparison certificate: is a comparison of two results like for like?

`certify(a, b)` runs the checks of llem/results/comparison_checks.py (prompt token ids, output
lengths, output identity, energy scope, KV-cache budget, batch occupancy or concurrency,
prefix-cache hit rate, thermal / throttle state, host load), each answering same, differs (both
values), unknown (the reason: not recorded, or not decidable from what is recorded) or n/a (the
check does not apply, and why). Plain data throughout.

A difference is *configured* where the two specs set, differently, a field that decides the checked
quantity (a batch-size sweep differs in occupancy because it was asked to): named, but not what makes
a comparison unlike. The pair's verdict, `like_for_like`: "no" where a check differs that was not
configured, else "unverified" where a check is unknown, else "yes".

`llem report` certifies, per group of results with the same model, workload and hardware, each
member against the group's first; the energy choice under a latency target (llem/report/slo.py) and
an optimising sweeper's best trial (llem/sweep/callback.py) certify the winner against the runs it
was chosen over.
"""

from __future__ import annotations

import json
from collections import Counter

from llem.results.comparison_checks import (
    DIFFERS,
    NOT_APPLICABLE,
    SAME,
    UNKNOWN,
    backend,
    check_host,
    check_identity,
    check_kv_budget,
    check_lengths,
    check_occupancy,
    check_prefix_cache,
    check_prompts,
    check_scope,
    check_thermal,
    run_id,
)

__all__ = [
    "DIFFERS",
    "NOT_APPLICABLE",
    "SAME",
    "UNKNOWN",
    "certify",
    "certificates",
    "certificate_lines",
    "choice_comparison",
    "choice_lines",
    "row_verdicts",
    "summary",
]

YES, NO, UNVERIFIED = "yes", "no", "unverified"


# ---- the certificate ----------------------------------------------------------------------------


def certify(a: dict, b: dict) -> dict:
    """The certificate of one pair of results (a: the reference)."""
    prompts, lengths = check_prompts(a, b), check_lengths(a, b)
    checks = [
        prompts,
        lengths,
        check_identity(a, b, prompts, lengths),
        check_scope(a, b),
        check_kv_budget(a, b),
        check_occupancy(a, b),
        check_prefix_cache(a, b),
        check_thermal(a, b),
        check_host(a, b),
    ]
    differs = [c["label"] for c in checks if c["verdict"] == DIFFERS and not c["configured"]]
    as_configured = [c["label"] for c in checks if c["verdict"] == DIFFERS and c["configured"]]
    unknown = [c["label"] for c in checks if c["verdict"] == UNKNOWN]
    verdict = NO if differs else UNVERIFIED if unknown else YES
    return {
        "a": run_id(a),
        "b": run_id(b),
        "a_backend": backend(a),
        "b_backend": backend(b),
        "a_hash": str((a.get("identity") or {}).get("config_hash") or "")[:8] or None,
        "like_for_like": verdict,
        "differs": differs,
        "configured": as_configured,
        "unknown": unknown,
        "configured_fields": sorted({f.split(" ", 1)[0] for c in checks for f in c["configured"]}),
        "checks": checks,
    }


def summary(cert: dict) -> str:
    """One line: "no: differs: output lengths, energy scope; unknown: host load"."""
    parts = []
    if cert["differs"]:
        parts.append("differs: " + ", ".join(cert["differs"]))
    if cert["configured"]:
        parts.append("as configured (" + ", ".join(cert["configured_fields"]) + "): " + ", ".join(cert["configured"]))
    if cert["unknown"]:
        parts.append("unknown: " + ", ".join(cert["unknown"]))
    return cert["like_for_like"] + (" - " + "; ".join(parts) if parts else "")


def comparison_key(rec: dict) -> str:
    """Results compared in one group: the same model, workload and hardware (engines and their settings differ)."""
    spec = rec.get("spec") or {}
    hw = spec.get("hardware") or {}
    return json.dumps(
        {
            "model": spec.get("model"),
            "workload": spec.get("workload"),
            "hardware": [hw.get("name"), hw.get("device"), hw.get("gpu_count"), hw.get("gpus")],
        },
        sort_keys=True,
        default=str,
    )


def certificates(records: list[dict]) -> list[dict]:
    """Per group of two or more ok results (comparison_key), each member against the group's first (the
    reference, in the order given): the certificates, plain data."""
    groups: dict[str, list[dict]] = {}
    for rec in records:
        if rec.get("status") == "ok":
            groups.setdefault(comparison_key(rec), []).append(rec)
    return [certify(members[0], other) for members in groups.values() if len(members) > 1 for other in members[1:]]


def short(cert: dict) -> str:
    """The verdict and the checks behind it, for a table's cell: "no: output lengths, energy scope"."""
    named = {NO: cert["differs"], UNVERIFIED: cert["unknown"], YES: cert["configured"]}[cert["like_for_like"]]
    if cert["like_for_like"] == YES:
        return YES + (f" (as configured: {', '.join(named)})" if named else "")
    return f"{cert['like_for_like']}: {', '.join(named)}"


def row_verdicts(certs: list[dict]) -> dict[str, str]:
    """{run_id: its table cell}: "reference" for a group's reference, else its certificate's short verdict
    against it (named by the reference's config hash, the table's first column)."""
    out: dict[str, str] = {}
    for c in certs:
        out.setdefault(c["a"], "reference")
        out[c["b"]] = f"{short(c)} (vs {c['a_hash'] or c['a']})"
    return out


SYMBOL = {SAME: "same", DIFFERS: "DIFFERS", UNKNOWN: "unknown", NOT_APPLICABLE: "n/a"}


def certificate_lines(certs: list[dict]) -> list[str]:
    """Plain-text lines: per pair its verdict, the checks that were the same on one line, each other check on
    its own with both values and the reason."""
    lines = []
    for c in certs:
        lines.append(
            f"comparison {c['b']} ({c['b_backend']}) vs {c['a']} ({c['a_backend']}, the reference): like for like: {summary(c)}"
        )
        same = [x["label"] for x in c["checks"] if x["verdict"] == SAME]
        if same:
            lines.append(f"  same: {', '.join(same)}")
        for x in c["checks"]:
            if x["verdict"] == SAME:
                continue
            values = f" {x['b']} vs {x['a']};" if x["a"] is not None or x["b"] is not None else ""
            if x["a"] is not None and x["a"] == x["b"]:
                values = f" {x['a']};"
            extra = f" (as configured: {', '.join(x['configured'])})" if x["configured"] else ""
            lines.append(f"  {SYMBOL[x['verdict']]} {x['label']}:{values} {x['reason'] or ''}{extra}".rstrip())
    return lines


def choice_comparison(winner: dict, others: list[dict]) -> dict:
    """A chosen result (the SLO choice, an optimiser's best trial) against each result it was chosen over."""
    certs = [certify(winner, o) for o in others if o.get("status") == "ok" and run_id(o) != run_id(winner)]
    unlike = [c for c in certs if c["like_for_like"] == NO]
    unverified = [c for c in certs if c["like_for_like"] == UNVERIFIED]
    checks = Counter(label for c in unlike for label in c["differs"])
    return {
        "winner": run_id(winner),
        "against": len(certs),
        "not_like_for_like": [c["b"] for c in unlike],
        "differs": dict(checks),
        "unverified": [c["b"] for c in unverified],
        "unknown": dict(Counter(label for c in unverified for label in c["unknown"])),
        "configured_fields": sorted({f for c in certs for f in c["configured_fields"]}),
        "certificates": certs,
    }


def choice_lines(choice: dict, what: str) -> list[str]:
    """Whether a choice's comparison was like for like, or which checks differ against how many runs."""
    n = choice["against"]
    if not n:
        return []
    them = f"the {n} run{'s' if n > 1 else ''} it was chosen over"
    swept = (
        f", apart from what they set differently ({', '.join(choice['configured_fields'])})"
        if choice["configured_fields"]
        else ""
    )
    if choice["not_like_for_like"]:
        differs = ", ".join(f"{label} ({k} of {n})" for label, k in sorted(choice["differs"].items(), key=lambda kv: -kv[1]))
        return [f"{what}: NOT like for like against {len(choice['not_like_for_like'])} of {them}: differs in {differs}"]
    if choice["unverified"]:
        unknown = ", ".join(f"{label} ({k} of {n})" for label, k in sorted(choice["unknown"].items(), key=lambda kv: -kv[1]))
        return [f"{what}: like for like as far as recorded against {them}{swept}; not recorded: {unknown}"]
    return [f"{what}: like for like against {them}{swept}"]
