"""How llem starts the echo engine's server (its Engine's `server` entry)."""

from __future__ import annotations

import sys

from llem.serving.plan import ServerPlan, cli_flags


def server_plan(spec, device: str, port: int) -> ServerPlan:
    s = spec.backend
    argv = [
        sys.executable,
        "-m",
        "llem_echo_engine.serve",
        "--port",
        str(port),
        *cli_flags({"token_delay_s": s["token_delay_s"], "rounds": s["rounds"]}, style="dash"),
    ]
    return ServerPlan("echo server", argv, port, cache_note="the echo server keeps no prefix cache")
