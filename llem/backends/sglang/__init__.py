"""SGLang backend. config.py and mapping.py import nothing heavy; backend.py imports SGLang."""

from llem.registry import Engine

ENGINE = Engine(
    name="sglang",
    env_prefixes=("SGLANG_", "SGL_"),
    settings="llem.backends.sglang.config:SglangConfig",
    offline="llem.backends.sglang.backend:SglangBackend",
    server="llem.backends.sglang.server:server_plan",
    extra="sglang",
    modules=("sglang",),
    dists=("sglang",),
    devices=("cuda",),
    isolation_group="torch",
    prompts=("ids", "text"),
    # SGLang 0.5.16 has no usage reporting of its own to turn off (its wheel's only telemetry is OpenTelemetry
    # tracing, off unless --enable-trace); its Hub downloads are covered by HF_HUB_DISABLE_TELEMETRY.
    telemetry_off={},
    prefix_cache="llem.backends.sglang.prefix_cache:readout",
    structured="llem.backends.sglang.structured:support",
    speculative="llem.backends.sglang.speculative:readout",
)
