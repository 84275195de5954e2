"""The echo engine: a byte-level "model" that generates by a fixed rule, in process and behind a loopback
OpenAI-compatible HTTP server. Declared to llem by the one object below (entry point llem.engines)."""

from llem.registry import Engine

ENGINE = Engine(
    name="echo",
    settings="llem_echo_engine.config:EchoConfig",
    offline="llem_echo_engine.backend:EchoBackend",
    server="llem_echo_engine.server:server_plan",
    extra="echo",
    install="pip install tests/engines/llem_echo_engine",
    modules=("llem_echo_engine",),
    dists=("llem-echo-engine",),
    devices=("cpu",),
    isolation_group="echo",
    prompts=("ids", "text"),
    phase_series={
        "prefill_sum": "echo:request_prefill_seconds_sum",
        "prefill_count": "echo:request_prefill_seconds_count",
        "decode_sum": "echo:request_decode_seconds_sum",
        "decode_count": "echo:request_decode_seconds_count",
    },
    telemetry_off={"ECHO_NO_USAGE_STATS": "1"},
)
