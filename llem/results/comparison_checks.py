"""The checks of the comparison certificate (llem/results/comparison.py), one per condition that must
hold for two results' numbers to be compared. Each takes two result records (a: the reference) and
returns plain data: {check, label, verdict (same | differs | unknown | n/a), a, b (each run's value,
as text), reason, configured (the spec fields, set differently, that explain a difference)}. They
read only the records; what each engine resolved is in its result, written by its own folder
(llem/backends/<name>/):

- prompt token ids: requests.prompt_token_ids_sha256;
- output lengths: each request's output token count (outputs.requests[].n), else each window's
  requests and output tokens (server mode);
- output identity: each request's output token-id hash (outputs.requests[].sha256), greedy runs on
  the same prompts and lengths only; where the weights are random (model.weights=random, the built-in
  tiny model) a divergence is uninformative (nearly flat logits), not a failure;
- energy scope: metrics.energy_scope and whether the joules were measured or estimated;
- KV-cache budget: engine.kv_cache_budget (its dtype, and whether it holds the batch's
  sequences: running batch x (longest prompt + output tokens));
- batch occupancy / concurrency: the engine's running batch (offline), the client's concurrency,
  rate and the requests seen in flight (server mode);
- prefix-cache hit rate: prefix_cache.hit_rate, where the engine reports one;
- thermal / throttle state: the GPU sampler's per-window conditions (throttle reasons, temperature
  at each window's start);
- host load: each window's host record (other processes' CPUs and steal against
  energy.host_busy_max_cores).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from llem.energy.host_load import busy_limit
from llem.models.source import weights_label
from llem.results.basis import record_is_estimate
from llem.results.outputs import compare_outputs

SAME, DIFFERS, UNKNOWN, NOT_APPLICABLE = "same", "differs", "unknown", "n/a"

LABELS = {
    "prompt_token_ids": "prompt token ids",
    "output_lengths": "output lengths",
    "output_identity": "output identity",
    "energy_scope": "energy scope",
    "kv_cache_budget": "KV-cache budget",
    "occupancy": "batch occupancy / concurrency",
    "prefix_cache": "prefix-cache hit rate",
    "thermal": "thermal / throttle state",
    "host_load": "host load",
}

# Spec fields whose difference makes a check's difference configured (asked for), per check.
PROMPT_FIELDS = (
    "model.id",
    "model.source",
    "model.weights",
    "model.arch",
    "model.tokenizer",
    "workload.source",
    "workload.path",
    "workload.num_prompts",
    "workload.input_tokens",
    "workload.seed",
    "workload.prefix_share",
    "workload.prefix_group_size",
    "workload.turns",
    "workload.endpoint",
)
LENGTH_FIELDS = (
    "workload.output_tokens",
    "workload.output_lengths",
    "workload.num_prompts",
    "workload.turns",
    "workload.source",
    "workload.path",
)
OFFLINE_OCCUPANCY = ("workload.mode", "workload.batch_size")
SERVER_OCCUPANCY = ("workload.mode", "workload.concurrency", "workload.request_rate", "workload.arrival", "workload.burst_size")
PREFIX_FIELDS = ("workload.prefix_share", "workload.prefix_group_size")
THERMAL_FIELDS = ("hardware.power_limit_w", "hardware.sm_clocks_mhz", "hardware.mem_clock_mhz")
HIT_RATE_TOLERANCE = 0.05  # as llem/workload/prefix_cache.py: block granularity alone stays inside it
TEMPERATURE_MAX_C = 5.0  # energy.temperature_drift_max_c's default, where a record has no spec value


def run_id(rec: dict) -> str:
    return str((rec.get("identity") or {}).get("run_id") or "?")


def backend(rec: dict) -> Optional[str]:
    return (rec.get("identity") or {}).get("backend") or ((rec.get("spec") or {}).get("backend") or {}).get("name")


def _get(rec: dict, path: str):
    value = rec.get("spec") or {}
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def configured(a: dict, b: dict, fields) -> list[str]:
    """The spec fields of `fields` the two results set differently, as "field A vs B"."""
    return [f"{f} {_get(a, f)} vs {_get(b, f)}" for f in fields if _get(a, f) != _get(b, f)]


def _check(name: str, verdict: str, a=None, b=None, reason: Optional[str] = None, configured_by=()) -> dict:
    return {
        "check": name,
        "label": LABELS[name],
        "verdict": verdict,
        "a": a,
        "b": b,
        "reason": reason,
        "configured": list(configured_by) if verdict == DIFFERS else [],
    }


def _differs_or_same(name: str, equal: bool, a, b, fields: list[str], reason: Optional[str] = None) -> dict:
    return _check(name, SAME if equal else DIFFERS, a, b, None if equal else reason, fields)


def _requests(rec: dict) -> dict:
    return rec.get("requests") or {}


def _mode(rec: dict) -> str:
    return _get(rec, "workload.mode") or "offline"


# ---- prompt token ids ---------------------------------------------------------------------------


def _prompt_value(rec: dict) -> Optional[str]:
    req = _requests(rec)
    digest = req.get("prompt_token_ids_sha256")
    if not digest:
        return None
    lengths = req.get("input_tokens") or []
    return f"{digest[:12]} ({len(lengths)} prompts, {sum(x for x in lengths if isinstance(x, int))} tokens)"


def check_prompts(a: dict, b: dict) -> dict:
    va, vb = _prompt_value(a), _prompt_value(b)
    missing = [r for r, v in ((a, va), (b, vb)) if v is None]
    if missing:
        why = [
            f"{run_id(r)}: "
            + (
                "its prompts went as text to a server that tokenized them, so their ids are not known"
                if "prompt_token_ids_sha256" in _requests(r)
                else "no prompt token-id hash recorded (a result of an older llem)"
            )
            for r in missing
        ]
        return _check("prompt_token_ids", UNKNOWN, va, vb, "; ".join(why))
    equal = _requests(a)["prompt_token_ids_sha256"] == _requests(b)["prompt_token_ids_sha256"]
    fields = configured(a, b, PROMPT_FIELDS)
    return _differs_or_same(
        "prompt_token_ids",
        equal,
        va,
        vb,
        fields,
        "the workloads differ"
        if fields
        else "the same workload settings gave different token ids: the engines' tokenizers (or "
        "special tokens, chat template) disagree",
    )


# ---- output lengths -----------------------------------------------------------------------------


def _per_request_lengths(rec: dict) -> Optional[dict]:
    reqs = (rec.get("outputs") or {}).get("requests")
    if not reqs:
        return None
    return {q["id"]: q.get("n") for q in reqs}


def _lengths_text(lengths: dict) -> str:
    counts = Counter(lengths.values())
    return ", ".join(f"{k} x {n} tokens" for n, k in sorted(counts.items(), key=lambda kv: -kv[1]))


def _window_totals(rec: dict) -> Optional[list[tuple]]:
    """(requests, output tokens) of each window's whole run (server mode) or window (offline)."""
    out = []
    for w in rec.get("windows") or []:
        whole = w.get("whole_run") if isinstance(w.get("whole_run"), dict) else w
        if whole.get("requests") is None or whole.get("output_tokens") is None:
            return None
        out.append((whole["requests"], whole["output_tokens"]))
    return out or None


def check_lengths(a: dict, b: dict) -> dict:
    fields = configured(a, b, LENGTH_FIELDS)
    la, lb = _per_request_lengths(a), _per_request_lengths(b)
    if la is not None and lb is not None:
        equal = la == lb if la.keys() == lb.keys() else sorted(la.values()) == sorted(lb.values())
        return _differs_or_same(
            "output_lengths",
            equal,
            _lengths_text(la),
            _lengths_text(lb),
            fields,
            "the workloads ask for different lengths"
            if fields
            else "the same workload gave different output lengths: an engine did not honour the fixed "
            "length (it stopped early or ran past it)",
        )
    ta, tb = _window_totals(a), _window_totals(b)
    if ta is None or tb is None:
        missing = [run_id(r) for r, t in ((a, ta), (b, tb)) if t is None]
        return _check("output_lengths", UNKNOWN, None, None, f"no output token counts recorded in {', '.join(missing)}")

    def text(totals):
        if len(set(totals)) == 1:
            return f"{totals[0][1]} tokens / {totals[0][0]} requests in each of {len(totals)} windows"
        return "; ".join(f"{o} tokens / {r} requests" for r, o in totals[:3]) + (" ..." if len(totals) > 3 else "")

    # server mode: per window, so only an equal count of requests and tokens is the same
    return _differs_or_same(
        "output_lengths",
        ta == tb,
        text(ta),
        text(tb),
        fields,
        "the workloads ask for different lengths"
        if fields
        else "the runs' windows produced different output token counts for their requests",
    )


# ---- output identity ----------------------------------------------------------------------------


def check_identity(a: dict, b: dict, prompts: dict, lengths: dict) -> dict:
    oa, ob = a.get("outputs") or {}, b.get("outputs") or {}
    if prompts["verdict"] == DIFFERS or lengths["verdict"] == DIFFERS:
        return _check(
            "output_identity",
            NOT_APPLICABLE,
            reason="the runs had different prompts or output lengths: their outputs cannot be identical",
        )
    for rec, out in ((a, oa), (b, ob)):
        if not out.get("requests"):
            why = out.get("reason") or (
                "a server's output token ids are not recorded" if _mode(rec) == "server" else "no output token ids recorded"
            )
            return _check("output_identity", UNKNOWN, reason=f"{run_id(rec)}: {why}")
    if not (oa.get("greedy") and ob.get("greedy")):
        return _check(
            "output_identity",
            NOT_APPLICABLE,
            reason="sampled decoding (workload.sampling.temperature > 0): outputs are not expected to match",
        )
    c = compare_outputs(oa, ob)
    where = (
        ""
        if c["first_divergence"] is None
        else f", first divergence at token {c['first_divergence']}" + (" or later" if c["first_divergence_beyond_head"] else "")
    )
    value = f"{c['identical']} of {c['requests']} requests identical{where}"
    if c["requests"] and c["identical"] == c["requests"]:
        return _check("output_identity", SAME, value, value)
    random = [run_id(r) for r in (a, b) if weights_label((r.get("spec") or {}).get("model") or {}) == "random"]
    if random:
        return _check(
            "output_identity",
            NOT_APPLICABLE,
            value,
            value,
            f"uninformative: random weights ({', '.join(random)}) give nearly flat logits, so greedy picks "
            f"follow each engine's rounding; compare engines on real weights",
        )
    if not c["requests"]:
        return _check("output_identity", UNKNOWN, reason="no request ids in common")
    return _check(
        "output_identity",
        DIFFERS,
        value,
        value,
        "the engines computed different tokens on the same prompts (dtype, quantisation, kernels' "
        "rounding, or a misconfiguration where they differ from the first token)",
    )


# ---- energy scope -------------------------------------------------------------------------------


def _scope(rec: dict) -> Optional[str]:
    m = rec.get("metrics") or {}
    if m.get("energy_j") is None and m.get("energy_j_per_output_token") is None:
        return None
    scope = m.get("energy_scope") or "unknown scope"
    return f"{scope} ({'estimate' if record_is_estimate(rec) else 'measured'})"


def check_scope(a: dict, b: dict) -> dict:
    sa, sb = _scope(a), _scope(b)
    if sa is None and sb is None:
        return _check("energy_scope", NOT_APPLICABLE, reason="neither run measured energy: no joules are compared")
    na, nb = sa or "not measured", sb or "not measured"
    older = [run_id(r) for r, x in ((a, sa), (b, sb)) if x and x.startswith("unknown scope")]
    if older:
        return _check(
            "energy_scope",
            UNKNOWN,
            na,
            nb,
            f"what the joules of {', '.join(older)} count is not recorded (metrics.energy_scope: a result of an older llem)",
        )
    return _differs_or_same(
        "energy_scope",
        sa == sb,
        na,
        nb,
        [],
        "their joules count different parts of the machine (or one is modelled, or missing): their J/token are not comparable",
    )


# ---- KV-cache budget ----------------------------------------------------------------------------


def _running_batch(rec: dict) -> Optional[int]:
    eff = (rec.get("engine") or {}).get("effective_settings") or {}
    running = eff.get("batch_size")
    if not isinstance(running, int):
        running = _get(rec, "workload.concurrency" if _mode(rec) == "server" else "workload.batch_size")
    return running if isinstance(running, int) else None


def _need_per_sequence(rec: dict) -> Optional[int]:
    lengths = [x for x in _requests(rec).get("input_tokens") or [] if isinstance(x, int)]
    out = _get(rec, "workload.output_tokens")
    return max(lengths) + out if lengths and isinstance(out, int) else None


def _holds(budget: dict, rec: dict) -> Optional[bool]:
    """Whether the budget holds the running batch's sequences at full length (None: not known)."""
    if budget.get("allocation") == "per_call":
        return True
    need, running = _need_per_sequence(rec), _running_batch(rec)
    if need is None:
        return None
    if isinstance(budget.get("per_sequence_tokens"), int):
        return budget["per_sequence_tokens"] >= need
    if isinstance(budget.get("tokens"), int) and running:
        return budget["tokens"] >= running * need
    return None


def _budget_text(budget: dict) -> str:
    dtype = budget.get("dtype") or "dtype unknown"
    if budget.get("allocation") == "per_call":
        return f"sized per engine call, {dtype}"
    tokens = budget.get("tokens")
    if tokens is None:
        return f"pool of unknown size, {dtype}"
    split = (
        f" ({budget['sequences']} x {budget['per_sequence_tokens']})"
        if budget.get("per_sequence_tokens") and budget.get("sequences")
        else ""
    )
    return f"pool of {tokens} tokens{split}, {dtype}"


def check_kv_budget(a: dict, b: dict) -> dict:
    ba, bb = (a.get("engine") or {}).get("kv_cache_budget"), (b.get("engine") or {}).get("kv_cache_budget")
    for rec, budget in ((a, ba), (b, bb)):
        if not isinstance(budget, dict):
            why = (
                "llem does not read a server's KV-cache budget"
                if _mode(rec) == "server"
                else "its engine description has no kv_cache_budget (an older llem, or an engine that does not report one)"
            )
            return _check("kv_cache_budget", UNKNOWN, ba and _budget_text(ba), bb and _budget_text(bb), f"{run_id(rec)}: {why}")
    ta, tb = _budget_text(ba), _budget_text(bb)
    if ba.get("dtype") != bb.get("dtype"):
        return _check(
            "kv_cache_budget",
            DIFFERS,
            ta,
            tb,
            "the KV caches hold different dtypes (bytes per token and attention's arithmetic differ)",
        )
    ha, hb = _holds(ba, a), _holds(bb, b)
    if ha is None or hb is None:
        unsure = [
            f"{run_id(r)} ({bud.get('reason') or 'the batch it must hold is not recorded'})"
            for r, bud, h in ((a, ba, ha), (b, bb, hb))
            if h is None
        ]
        return _check(
            "kv_cache_budget", UNKNOWN, ta, tb, "whether the cache holds the batch is not known for " + "; ".join(unsure)
        )
    if ha != hb:
        short = run_id(a) if not ha else run_id(b)
        return _check(
            "kv_cache_budget",
            DIFFERS,
            ta,
            tb,
            f"{short}'s cache is smaller than its running batch x "
            f"(longest prompt + output tokens): that engine must queue "
            f"or preempt sequences, the other need not",
        )
    if not ha:
        return _check(
            "kv_cache_budget",
            UNKNOWN,
            ta,
            tb,
            "neither cache holds its running batch at full length: how each engine queues or preempts is not recorded",
        )
    return _check("kv_cache_budget", SAME, ta, tb)


# ---- batch occupancy / concurrency --------------------------------------------------------------


def _occupancy(rec: dict) -> tuple[tuple, str]:
    """(what is compared, how it reads)."""
    eff = (rec.get("engine") or {}).get("effective_settings") or {}
    if _mode(rec) == "server":
        w = (rec.get("spec") or {}).get("workload") or {}
        seen = [x.get("max_in_flight") for x in rec.get("windows") or [] if isinstance(x.get("max_in_flight"), int)]
        rate = f"{w.get('request_rate'):g} req/s {w.get('arrival')}" if w.get("request_rate") else "closed loop"
        text = f"concurrency {w.get('concurrency')}, {rate}" + (f", at most {min(seen)} in flight" if seen else "")
        return (
            "server",
            w.get("concurrency"),
            w.get("request_rate"),
            w.get("arrival") if w.get("request_rate") else None,
            min(seen) if seen else None,
        ), text
    running = _running_batch(rec)
    windows = rec.get("windows") or []
    calls = ""
    if windows and windows[0].get("batch_requests"):
        per_pass = windows[0]["batch_requests"][: max(1, len(windows[0]["batch_requests"]) // (windows[0].get("passes") or 1))]
        calls = f" (requests per engine call: {'+'.join(str(n) for n in per_pass)})"
    batching = eff.get("batching")
    mode = f"{batching} " if isinstance(batching, str) and " " not in batching else ""  # static, continuous
    return ("offline", running), f"{mode}batch of {running}{calls}"


def check_occupancy(a: dict, b: dict) -> dict:
    (ka, ta), (kb, tb) = _occupancy(a), _occupancy(b)
    if None in ka[1:2] or None in kb[1:2]:
        return _check("occupancy", UNKNOWN, ta, tb, "the running batch or concurrency is not recorded")
    fields = configured(a, b, SERVER_OCCUPANCY if "server" in (_mode(a), _mode(b)) else OFFLINE_OCCUPANCY)
    return _differs_or_same(
        "occupancy",
        ka == kb,
        ta,
        tb,
        fields,
        "the workloads set different batches or loads"
        if fields
        else "the engines ran different numbers of sequences at once for the same workload",
    )


# ---- prefix-cache hit rate ----------------------------------------------------------------------


def check_prefix_cache(a: dict, b: dict) -> dict:
    pa, pb = a.get("prefix_cache") or {}, b.get("prefix_cache") or {}
    ra, rb = pa.get("hit_rate"), pb.get("hit_rate")
    ta = f"{ra:.1%}" if isinstance(ra, (int, float)) else None
    tb = f"{rb:.1%}" if isinstance(rb, (int, float)) else None
    if ta is None and tb is None:
        return _check(
            "prefix_cache",
            NOT_APPLICABLE,
            reason=f"neither engine reports a prefix-cache hit rate ({run_id(a)}: {pa.get('reason') or 'not recorded'})",
        )
    if ta is None or tb is None:
        silent, report = (a, pa) if ta is None else (b, pb)
        return _check(
            "prefix_cache",
            UNKNOWN,
            ta or "not reported",
            tb or "not reported",
            f"only one engine reports a hit rate; {run_id(silent)}: {report.get('reason') or 'not recorded'}",
        )
    fields = configured(a, b, PREFIX_FIELDS)
    return _differs_or_same(
        "prefix_cache",
        abs(ra - rb) <= HIT_RATE_TOLERANCE,
        ta,
        tb,
        fields,
        "the workloads share different prefixes"
        if fields
        else f"the engines served different shares of prompt tokens from cache (beyond "
        f"{HIT_RATE_TOLERANCE:.0%}): one prefilled less",
    )


# ---- thermal / throttle state -------------------------------------------------------------------


def _thermal(rec: dict) -> tuple[Optional[dict], str]:
    conds = [w.get("conditions") for w in rec.get("windows") or []]
    read = [c for c in conds if isinstance(c, dict) and "reason" not in c]
    if not read:
        return None, (
            "no GPU sampler readings in its windows (a CPU job, energy.sampler=false, or too short "
            "windows): its thermal and throttle state is not recorded"
        )
    throttled: dict[str, float] = {}
    for c in read:
        for reason, s in (c.get("throttled_s") or {}).items():
            throttled[reason] = throttled.get(reason, 0.0) + s
    unknown = sum(c.get("throttle_unknown_s") or 0.0 for c in read)
    temps = [c.get("temperature_c_start") for c in read if isinstance(c.get("temperature_c_start"), (int, float))]
    state = {"throttled": throttled, "unknown_s": unknown, "temperature_c": sum(temps) / len(temps) if temps else None}
    text = ("throttled: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(throttled.items()))) if throttled else "not throttled"
    if state["temperature_c"] is not None:
        text += f", windows start at {state['temperature_c']:.0f} C"
    return state, text


def check_thermal(a: dict, b: dict) -> dict:
    (sa, ta), (sb, tb) = _thermal(a), _thermal(b)
    if sa is None or sb is None:
        return _check(
            "thermal",
            UNKNOWN,
            ta if sa else None,
            tb if sb else None,
            f"{run_id(a) if sa is None else run_id(b)}: {ta if sa is None else tb}",
        )
    fields = configured(a, b, THERMAL_FIELDS)
    if sa["throttled"] and sb["throttled"]:
        if fields:
            return _check("thermal", DIFFERS, ta, tb, "the GPU settings differ", fields)
        return _check("thermal", UNKNOWN, ta, tb, "both runs were throttled: whether alike is not known")
    if bool(sa["throttled"]) != bool(sb["throttled"]):
        return _check("thermal", DIFFERS, ta, tb, "one run was throttled, the other not", fields)
    limit = _get(a, "energy.temperature_drift_max_c") or TEMPERATURE_MAX_C
    if (
        sa["temperature_c"] is not None
        and sb["temperature_c"] is not None
        and abs(sa["temperature_c"] - sb["temperature_c"]) > limit
    ):
        return _check(
            "thermal",
            DIFFERS,
            ta,
            tb,
            f"their windows started more than {limit:g} C apart (energy.temperature_drift_max_c): different thermal states",
            fields,
        )
    if max(sa["unknown_s"], sb["unknown_s"]) > 0:
        return _check("thermal", UNKNOWN, ta, tb, "throttle reasons were unreadable for part of the windows")
    return _check("thermal", SAME, ta, tb)


# ---- host load ----------------------------------------------------------------------------------


def _host(rec: dict) -> tuple[Optional[bool], str]:
    hosts = [w.get("host") for w in rec.get("windows") or [] if isinstance(w.get("host"), dict)]
    if not hosts:
        return None, "no host load recorded in its windows (/proc not readable, or an older llem)"
    limit = busy_limit(hosts[0], _get(rec, "energy.host_busy_max_cores"))
    other = max(h.get("other_cores") or 0.0 for h in hosts)
    steal = max(h.get("steal_cores") or 0.0 for h in hosts)
    busy = other > limit or steal > limit
    text = f"{'busy' if busy else 'quiet'}: other processes up to {other:.1f} CPUs" + (
        f", steal {steal:.1f}" if steal >= 0.05 else ""
    )
    return busy, text + f" (limit {limit:g})"


def check_host(a: dict, b: dict) -> dict:
    (ba, ta), (bb, tb) = _host(a), _host(b)
    if ba is None or bb is None:
        return _check(
            "host_load",
            UNKNOWN,
            ta if ba is not None else None,
            tb if bb is not None else None,
            f"{run_id(a) if ba is None else run_id(b)}: {ta if ba is None else tb}",
        )
    if ba and bb:
        return _check(
            "host_load", UNKNOWN, ta, tb, "both runs shared their host with other work: whether it slowed them alike is not known"
        )
    return _differs_or_same(
        "host_load", ba == bb, ta, tb, [], "one run shared its host with other work, the other ran on a quiet host"
    )
