"""Validation of workload.mode=server, run by llem.config.spec before anything heavy is imported or any server starts.

Plain rules (no engine or client import): the spec may import this module. What one engine's server
needs is the engine's own rule, in its folder (the settings model's check_server).
"""

from __future__ import annotations

import importlib.util
from urllib.parse import urlparse

from llem.errors import UserError
from llem.registry import engine, engines, one_of

# WorkloadSpec fields that only mean something in server mode (left out of offline config hashes).
SERVER_ONLY_FIELDS = (
    "concurrency",
    "request_rate",
    "arrival",
    "burst_size",
    "server_url",
    "ready_timeout_s",
    "slo_ttft_s",
    "slo_tpot_s",
    "endpoint",
    "client_processes",
)


def not_applied(spec) -> list[str]:
    """What an offline job sets that applies to server mode only, as `group.key=value`: server-only workload
    fields away from their defaults (left out of an offline run's identity), and what the engine's settings
    model names (its offline_ignored; part of the identity, as all backend settings are). No server runs, so
    each is ignored. Empty for a server job."""
    w = spec.workload
    if w.mode == "server":
        return []
    fields = type(w).model_fields
    out = [f"workload.{key}={getattr(w, key)}" for key in SERVER_ONLY_FIELDS if getattr(w, key) != fields[key].default]
    hook = getattr(engine(spec.backend_name).settings_model(), "offline_ignored", None)
    return out + (list(hook(spec)) if hook is not None else [])


def check_applied(specs, sweep: bool) -> None:
    """A server-only setting on an offline job is refused unless the same sweep also has server jobs, where it
    applies (`workload.mode=offline,server` shares its server settings across both modes; its offline points
    list them in result.json's `settings_not_applied` instead, llem.cli.app)."""
    if any(s.workload.mode == "server" for s in specs):
        return
    for spec in specs:
        ignored = not_applied(spec)
        if ignored:
            where = "no point of this sweep is" if sweep else "this run is not"
            raise UserError(
                f"{ignored[0]} applies to server mode only, and {where} in server mode (workload.mode=offline, "
                f"where it would be ignored): use workload=server, sweep workload.mode=offline,server to "
                f"measure both, or leave it unset."
            )


def check_server_workload(w) -> None:
    """Field-level rules of a server workload."""
    if w.server_url is not None:
        url = urlparse(w.server_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UserError(
                f"workload.server_url={w.server_url} is not a valid server address: give a URL "
                f"such as http://127.0.0.1:8000 (the server's base, without /v1)."
            )
    if w.client_processes is not None and w.client_processes > w.concurrency:
        raise UserError(
            f"workload.client_processes={w.client_processes} is more than workload.concurrency={w.concurrency}: "
            f"each load-generator process holds at least one request slot; use at most {w.concurrency}, "
            f"or null to choose from the load."
        )
    if w.source == "synthetic" and w.endpoint == "chat":
        raise UserError(
            "workload.source=synthetic cannot be sent with workload.endpoint=chat (a chat message is text; token-id "
            "prompts go to /v1/completions only): use workload.endpoint=completions with synthetic prompts, "
            "or workload.source=builtin or jsonl with chat."
        )


def check_server_job(spec) -> None:
    """Cross-field rules: a server this backend can start and take the prompts, the client library, and
    the engine's own server rules (its settings model's check_server, where it has one)."""
    if importlib.util.find_spec("aiohttp") is None:
        raise UserError(
            "workload.mode=server needs the Python package 'aiohttp' for its load generator, which is not installed: run pip install aiohttp (or pip install 'llem[server]')."
        )
    name = spec.backend_name
    if spec.workload.source == "synthetic" and "ids" not in engine(name).prompts:
        takes = [n for n, e in engines().items() if "ids" in e.prompts]
        raise UserError(
            f"workload.source=synthetic is not supported by the backend={name} server (its /v1/completions "
            f"takes text prompts only, not token ids): use backend={one_of(takes)} for token-id prompts, "
            f"or workload.source=builtin or jsonl with backend={name}."
        )
    if spec.workload.server_url is not None:
        return  # attached: llem starts nothing, the backend only names the engine
    hook = getattr(engine(name).settings_model(), "check_server", None)
    if hook is not None:
        hook(spec)
