"""Speculative decoding, read back from the engine: its acceptance rate and the energy per accepted token.

A job configures speculative decoding through its engine's own settings (vLLM `speculative_config`,
SGLang `speculative_algorithm`, llama-server `spec_type` / `draft_model`). Each engine's folder says
what its engine reports of it (llem/backends/<name>/speculative.py, named by the registry's
`speculative` entry: "module:function" (spec) -> SpecReadout). This module turns the engine's counts into
the record a window carries (`windows[i].speculative`) and the job's `speculative` block of result.json.

The counts, named as vLLM and llama-server name their Prometheus counters:

- drafts: verification steps that checked a draft (vLLM `num_drafts`, llama-server `num_drafts`,
  SGLang `spec_verify_ct`);
- draft_tokens: tokens proposed by the drafter;
- accepted_tokens: proposed tokens the target model accepted.

From them: acceptance_rate = accepted / drafted tokens; mean_accepted_length = 1 + accepted / drafts
(tokens a verification step emits, the target's own token included: vLLM's and llama.cpp's definition);
energy_j_per_accepted_token = the window's joules / its accepted tokens, beside J per output token of
the same window. Every verification step emits its accepted tokens plus one of the target's own, and a
request's first token comes from its prefill, so accepted + drafts <= output tokens of the window; a
read-back that breaks that, or accepts more than was drafted, or whose counters go backwards, is flagged
(`speculative_inconsistent`) with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from llem.registry import backend_info, load_object
from llem.results.stats import summarize

KEYS = ("drafts", "draft_tokens", "accepted_tokens")
# |per-request sum - engine counter| / counter above this is flagged where an engine gives both readings
# (llama-server: timings.draft_n per response, spec_decode_* counters at /metrics)
AGREEMENT = 0.01


@dataclass(frozen=True)
class SpecReadout:
    """What one engine reports of speculative decoding for one job, and how llem reads it."""

    # The job's speculative configuration in words; None: speculative decoding is not configured (nothing is read,
    # result.json's `speculative` is null).
    configured: Optional[str] = None
    # Flags the engine's server needs so that it reports (added to the plan's command line).
    server_args: tuple[str, ...] = ()
    # (server url) -> the engine's cumulative counts {"drafts", "draft_tokens", "accepted_tokens": number or None,
    # "source": text}, None where they cannot be read; read before and after each run, outside the energy windows.
    server_counters: Optional[Callable[[str], Optional[dict]]] = None
    # (usage, timings) of a request's last streamed chunks -> its own counts (same keys, None where not reported):
    # a second, per-request reading where the server sends one (llama-server's timings.draft_n).
    server_request: Optional[Callable[[Optional[dict], Optional[dict]], Optional[dict]]] = None
    server_reason: Optional[str] = None  # why a server's counts cannot be read (server_counters is None)
    offline_source: Optional[str] = None  # what the offline Backend's speculative_counts() reads
    offline_reason: Optional[str] = None  # why offline counts cannot be read


NO_READOUT = "this engine has no speculative-decoding readout in llem (llem/backends/<name>/speculative.py): acceptance not read"


def readout_for(spec) -> Optional[SpecReadout]:
    """The engine's SpecReadout for this job, None where the engine has none or the job configures no speculation."""
    target = backend_info(spec.backend_name).speculative
    if target is None:
        return None
    readout = load_object(target)(spec)
    return readout if readout.configured else None


def delta(before: Optional[dict], after: Optional[dict]) -> Optional[dict]:
    """The counts' change between two cumulative readings (None where either is missing)."""
    if not before or not after:
        return None
    out = {k: (after[k] - before[k]) if after.get(k) is not None and before.get(k) is not None else None for k in KEYS}
    out["source"] = after.get("source")
    return out


def request_sum(readout: SpecReadout, outputs) -> Optional[dict]:
    """The per-request counts of a server run's requests summed (llem/workload/records.py RequestOutput), where
    the engine sends them; a key is None where no request reported it."""
    if readout.server_request is None:
        return None
    counts = [readout.server_request(o.usage, o.timings) for o in outputs if o.ok]
    counts = [c for c in counts if c is not None]
    if not counts:
        return None
    out = {}
    for k in KEYS:
        values = [c[k] for c in counts if c.get(k) is not None]
        out[k] = sum(values) if values else None
    out["requests_reported"] = len(counts)
    return out


def window_record(
    counts: Optional[dict],
    output_tokens: int,
    energy_j: Optional[float],
    reason: Optional[str],
    source: Optional[str],
    per_request: Optional[dict] = None,
) -> dict:
    """One window's record from the engine's counts over it (`delta`), the window's output tokens and joules."""
    c = counts or {}
    drafts, drafted, accepted = c.get("drafts"), c.get("draft_tokens"), c.get("accepted_tokens")
    if counts is None and reason is None:
        reason = "the engine's speculative-decoding counts could not be read"
    why = reason
    if counts is not None and not drafted:
        why = ("no token was drafted in this window" if drafted == 0 else "the engine reports no drafted-token count") + (
            f" ({reason})" if reason else ""
        )
    return {
        "drafts": drafts,
        "draft_tokens": drafted,
        "accepted_tokens": accepted,
        "output_tokens": output_tokens,
        "acceptance_rate": accepted / drafted if drafted and accepted is not None else None,
        "mean_accepted_length": 1 + accepted / drafts if drafts and accepted is not None else None,
        "energy_j": energy_j,
        "energy_j_per_accepted_token": energy_j / accepted if energy_j is not None and accepted else None,
        "energy_j_per_output_token": energy_j / output_tokens if energy_j is not None and output_tokens else None,
        "reason": None if drafted and accepted is not None else why,
        "source": c.get("source") or source,
        **({"per_request": per_request} if per_request is not None else {}),
    }


def server_record(readout: SpecReadout, counts: Optional[dict], outputs, output_tokens: int, energy_j: Optional[float]) -> dict:
    """A server run's record: the engine's counters over the run (`delta`), else its requests' own counts where it
    sends them (an attached server without the counters), against the whole run's output tokens and joules."""
    per_request = request_sum(readout, outputs)
    reason = readout.server_reason
    if counts is None and readout.server_counters is not None:
        reason = "the engine's speculative-decoding counters could not be read from the server"
    if counts is None and per_request is not None:
        counts = {k: per_request[k] for k in KEYS}
        counts["source"] = f"the requests' own counts, summed ({per_request['requests_reported']} requests)"
        per_request = None
    return window_record(counts, output_tokens, energy_j, reason, None, per_request)


def consistency_flags(rec: dict, what: str) -> list[str]:
    """Flags where a window's read-back contradicts itself or the tokens the window produced."""
    flags = []
    drafts, drafted, accepted, out = rec["drafts"], rec["draft_tokens"], rec["accepted_tokens"], rec["output_tokens"]
    where = f"{what}: the engine's counts ({rec['source']})"
    if any(v is not None and v < 0 for v in (drafts, drafted, accepted)):
        flags.append(
            f"speculative_inconsistent: {where} went backwards (drafts {drafts}, drafted {drafted}, "
            f"accepted {accepted}): the engine restarted or reset its counters between the two readings"
        )
        return flags
    if drafted is not None and accepted is not None and accepted > drafted:
        flags.append(f"speculative_inconsistent: {where} accept {accepted} tokens of {drafted} drafted")
    if drafts is not None and accepted is not None and accepted + drafts > out:
        flags.append(
            f"speculative_inconsistent: {where} give {accepted} accepted tokens + {drafts} verification "
            f"steps = {accepted + drafts}, more than the {out} output tokens the window produced (each "
            f"step emits its accepted tokens and one of the target's own)"
        )
    pr = rec.get("per_request")
    if pr:
        for k in ("draft_tokens", "accepted_tokens"):
            a, b = pr.get(k), rec[k]
            if a is not None and b is not None and abs(a - b) > AGREEMENT * max(b, 1):
                flags.append(f"speculative_inconsistent: {what}: the requests' own {k} sum to {a}, the engine's counter says {b}")
    return flags


def summary(
    readout: Optional[SpecReadout],
    windows: list[Optional[dict]],
    basis: str,
    what: str = "window",
    unread: str = "no window measured",
) -> tuple[Optional[dict], list[str]]:
    """The job's `speculative` block from its windows' records, and its flags (None where not configured);
    `unread`: why, where no window has a record."""
    if readout is None:
        return None, []
    recs = [r for r in windows if r is not None]
    flags = []
    for i, r in enumerate(windows):
        if r is None:
            continue
        flags += consistency_flags(r, f"{what} {i}")
        if r["draft_tokens"] == 0:
            flags.append(
                f"speculative_no_drafts: {what} {i}: speculative decoding is configured ({readout.configured}) "
                f"but the engine drafted no token in it"
            )

    def total(key: str) -> Optional[int]:
        values = [r[key] for r in recs]
        return sum(values) if values and all(v is not None for v in values) else None

    drafts, drafted, accepted, out = total("drafts"), total("draft_tokens"), total("accepted_tokens"), total("output_tokens")
    reasons = [r["reason"] for r in recs if r["reason"]]
    rate = accepted / drafted if drafted and accepted is not None else None
    per_accepted = summarize([r["energy_j_per_accepted_token"] for r in recs])
    energy_reason = None
    if not recs:
        energy_reason = unread
    elif per_accepted is None:
        energy_reason = (
            "no window's energy was measured (metrics.energy_reason says why)"
            if all(r["energy_j"] is None for r in recs)
            else "no window had an accepted token to divide by"
        )
    block = {
        "configured": readout.configured,
        "acceptance_rate": rate,
        "acceptance_rate_per_window": [r["acceptance_rate"] for r in recs],
        "mean_accepted_length": 1 + accepted / drafts if drafts and accepted is not None else None,
        "drafts": drafts,
        "draft_tokens": drafted,
        "accepted_tokens": accepted,
        "output_tokens": out,
        "accepted_share_of_output_tokens": accepted / out if accepted is not None and out else None,
        "energy_j_per_accepted_token": per_accepted,
        "energy_j_per_output_token": summarize([r["energy_j_per_output_token"] for r in recs]),
        "energy_basis": basis,
        "energy_reason": energy_reason,
        "reason": None if rate is not None else (reasons[0] if reasons else unread),
        "source": recs[0]["source"] if recs else None,
        "rule": "acceptance_rate: accepted / drafted tokens, all measured windows pooled; mean_accepted_length: "
        "1 + accepted tokens / drafts (tokens per verification step, the target's own included); "
        "energy_j_per_accepted_token: each window's joules / its accepted tokens, beside the same windows' "
        "joules / output tokens",
    }
    return block, flags
