"""The prefix-cache hit rate, read back from the engine rather than assumed.

Each engine's folder says what its engine reports (llem/backends/<name>/prefix_cache.py, named by
the registry's `prefix_cache` entry: "module:function" (spec) -> CacheReadout). This module turns
the per-request counts into the record a window carries (`prefix_cache_hits`) and the job's
`prefix_cache` block in result.json:

- hit_rate = cached prompt tokens / prompt tokens, over the requests whose cached count the
  engine reported (null with the reason where it reported none);
- beside it the intended share (workload.prefix_share) and the ideal hit rate on that workload
  (llem/workload/prefix.py ideal_hit_rate: every prompt after its group's first finds the prefix
  cached); where the read-back rate and the ideal differ by more than HIT_RATE_TOLERANCE, a flag
  with both numbers. A lower rate is expected where members of one group are prefilled in the
  same step where the engine shares only blocks already computed (engine-dependent), where it caches
  whole blocks only, or where it evicts;
- the cache's state at each window's start (emptied by llem, or what is known where it cannot be).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from llem.registry import backend_info, load_object
from llem.workload.prefix import ideal_hit_rate, shared_tokens

# |read-back hit rate - ideal hit rate| above this is flagged (absolute, a fraction of prompt tokens):
# one 16-token block of a 128-token prompt is 0.125 x share, so block granularity alone stays inside it
# for shares up to 0.4; more is worth a look (prefills of one group in one step, eviction, a cache not reset).
HIT_RATE_TOLERANCE = 0.05


@dataclass(frozen=True)
class CacheReadout:
    """What one engine reports of its prefix cache, and how llem reads it."""

    # Flags the engine's server needs to report cached tokens (added to the plan's command line).
    server_args: tuple[str, ...] = ()
    # (usage, timings) of a request's last streamed chunks -> its cached prompt tokens, None where not reported.
    server_read: Optional[Callable[[Optional[dict], Optional[dict]], Optional[int]]] = None
    server_field: Optional[str] = None  # what is read, for the record
    server_reason: Optional[str] = None  # why a server's count cannot be read (server_read is None)
    # (server url) -> the engine's cumulative prefix-cache counters {"hits": tokens, "queries": tokens}, None where
    # unreadable: a second, engine-wide reading beside the per-request counts (recorded, not used for hit_rate)
    server_counters: Optional[Callable[[str], Optional[dict]]] = None
    # (server url) -> the engine's cumulative count of requests it preempted (vLLM) or retracted (SGLang) for lack
    # of KV-cache room: {"preemptions", "source"}, None where unreadable (multi-turn sessions: the eviction
    # point, llem/harness/history.py)
    server_pressure: Optional[Callable[[str], Optional[dict]]] = None
    offline_field: Optional[str] = None  # offline: what the backend reads (it fills Generation.cached_tokens)
    offline_reason: Optional[str] = None  # why offline counts cannot be read
    # the offline cache's state at each window's start (engines without a cross-request cache say so)
    offline_state: str = "emptied by the backend before every pass over the requests, then filled only by that pass's requests"


NO_READOUT = "this engine has no prefix-cache readout in llem (llem/backends/<name>/prefix_cache.py): hit rate not read"


def readout_for(spec) -> Optional[CacheReadout]:
    """The engine's CacheReadout, or None where its folder has none."""
    target = backend_info(spec.backend_name).prefix_cache
    return None if target is None else load_object(target)(spec)


def cache_state(reset: Optional[dict]) -> str:
    """A server's cache state at a run's start, in words, from the reset's record (llem/serving/cache_reset.py)."""
    if reset and reset.get("reset") is True:
        return f"emptied (POST {reset['path']}) before the run, then filled only by the run's own requests"
    if reset and reset.get("reset") is False:
        return f"not emptied: the reset failed ({reset.get('reason')})"
    return f"unknown: {reset.get('reason') if reset else 'not reset'}"


def hit_record(
    spec,
    prompt_tokens: list[Optional[int]],
    cached: list[Optional[int]],
    field: Optional[str],
    reason: Optional[str],
    state: str,
    pass_size: Optional[int] = None,
) -> dict:
    """One window's record from its requests' prompt and cached token counts (None: not reported); pass_size:
    requests per pass where the cache is emptied between passes (offline), else all of them form one load."""
    w = spec.workload
    pairs = [(p, c) for p, c in zip(prompt_tokens, cached) if p is not None and c is not None]
    prompt = sum(p for p, _ in pairs)
    rate = sum(c for _, c in pairs) / prompt if prompt else None
    if rate is None and reason is None:
        reason = f"the engine reported no cached-token count ({field}) for any of the {len(cached)} requests"
    ideal = (
        ideal_hit_rate(pass_size or len(prompt_tokens), w.input_tokens, w.prefix_share, w.prefix_group_size)
        if w.source == "synthetic"
        else None
    )
    return {
        "hit_rate": rate,
        "reason": None if rate is not None else reason,
        "cached_prompt_tokens": sum(c for _, c in pairs) if pairs else None,
        "prompt_tokens": prompt if pairs else None,
        "requests_reported": len(pairs),
        "requests": len(cached),
        "ideal_hit_rate": ideal,
        "source": field,
        "cache_state_at_window_start": state,
    }


def summary(spec, windows: list[Optional[dict]], what: str = "window") -> tuple[dict, list[str]]:
    """The job's prefix_cache block from its windows' records, and a flag per window off the ideal."""
    w = spec.workload
    recs = [r for r in windows if r is not None]
    flags = []
    for i, r in enumerate(windows):
        if r is None or r["hit_rate"] is None or r["ideal_hit_rate"] is None:
            continue
        if abs(r["hit_rate"] - r["ideal_hit_rate"]) > HIT_RATE_TOLERANCE:
            flags.append(
                f"prefix_hit_rate_disagrees: {what} {i}: the engine reports a hit rate of {r['hit_rate']:.3f}, "
                f"the workload's ideal is {r['ideal_hit_rate']:.3f} (prefix_share={w.prefix_share:g}, groups of "
                f"{w.prefix_group_size}); they differ by more than {HIT_RATE_TOLERANCE} (same-step prefills of one "
                f"group, block granularity, eviction or a cache not emptied)"
            )
    cached = sum(r["cached_prompt_tokens"] or 0 for r in recs)
    prompt = sum(r["prompt_tokens"] or 0 for r in recs)
    reasons = [r["reason"] for r in recs if r["reason"]]
    rates = [r["hit_rate"] for r in recs]
    synthetic = w.source == "synthetic"
    block = {
        "intended_share": w.prefix_share if synthetic else None,
        "group_size": w.prefix_group_size if synthetic and w.prefix_share > 0 else None,
        "shared_tokens_per_prompt": shared_tokens(w.input_tokens, w.prefix_share) if synthetic else None,
        "hit_rate": cached / prompt if prompt else None,
        "reason": None if prompt else (reasons[0] if reasons else "no window measured"),
        "hit_rate_per_window": rates,
        "ideal_hit_rate": recs[0]["ideal_hit_rate"] if recs else None,
        "tolerance": HIT_RATE_TOLERANCE,
        "agrees": None
        if not prompt or not recs or recs[0]["ideal_hit_rate"] is None
        else all(r["hit_rate"] is None or abs(r["hit_rate"] - r["ideal_hit_rate"]) <= HIT_RATE_TOLERANCE for r in recs),
        "source": recs[0]["source"] if recs else None,
        "cache_state_at_window_start": recs[0]["cache_state_at_window_start"] if recs else None,
        "rule": "hit_rate: cached prompt tokens / prompt tokens of the requests the engine reported on, all measured "
        "windows pooled; ideal_hit_rate: every prompt after its group's first finds the group's prefix cached",
    }
    return block, flags


def server_hits(spec, outputs, reset: Optional[dict], counters: Optional[dict] = None) -> dict:
    """A server run's record from its streamed requests (llem/workload/records.py RequestOutput); `counters`:
    the engine's own counters over the run (counter_delta), where it has them."""
    readout = readout_for(spec)
    state = cache_state(reset)
    ok = [o for o in outputs if o.ok]
    prompts = [o.input_tokens for o in ok]
    if readout is None or readout.server_read is None:
        rec = hit_record(
            spec, prompts, [None] * len(ok), None, readout.server_reason if readout else NO_READOUT, state, len(outputs)
        )
    else:
        cached = [readout.server_read(o.usage, o.timings) for o in ok]
        rec = hit_record(spec, prompts, cached, readout.server_field, None, state, len(outputs))
    if counters is not None:
        rec["engine_counters"] = counters
    return rec


def read_counters(spec, url: str) -> Optional[dict]:
    """The engine's cumulative prefix-cache counters now (None where it has none or they cannot be read)."""
    readout = readout_for(spec)
    if readout is None or readout.server_counters is None:
        return None
    return readout.server_counters(url)


def counter_delta(before: Optional[dict], after: Optional[dict]) -> Optional[dict]:
    """The counters' change over a run: hit tokens, queried tokens and their ratio (the engine's own hit rate)."""
    if not before or not after:
        return None
    hits, queries = after["hits"] - before["hits"], after["queries"] - before["queries"]
    return {"hits": hits, "queries": queries, "hit_rate": hits / queries if queries > 0 else None, "source": after.get("source")}


def offline_hits(spec, generations) -> dict:
    """An offline window's record from its passes (llem/backends/base.py Generation, cached_tokens filled by
    engines that can tell)."""
    readout = readout_for(spec)
    prompts = [n for g in generations for n in g.input_tokens]
    cached = [c for g in generations for c in (g.cached_tokens or [None] * len(g.input_tokens))]
    field = readout.offline_field if readout else None
    reason = NO_READOUT if readout is None else readout.offline_reason
    state = readout.offline_state if readout else "unknown: " + NO_READOUT
    return hit_record(spec, prompts, cached, field, reason, state, len(generations[0].input_tokens) if generations else None)
