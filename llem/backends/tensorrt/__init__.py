"""TensorRT-LLM backend. config.py and mapping.py import nothing heavy; backend.py imports TensorRT-LLM."""

from llem.registry import Engine

ENGINE = Engine(
    name="tensorrt",
    env_prefixes=("TLLM_", "TRTLLM_"),
    settings="llem.backends.tensorrt.config:TensorRTConfig",
    offline="llem.backends.tensorrt.backend:TensorRTBackend",
    server="llem.backends.tensorrt.server:server_plan",
    extra="tensorrt",
    modules=("tensorrt_llm",),
    dists=("tensorrt_llm",),
    devices=("cuda",),
    isolation_group="tensorrt",
    prompts=("ids", "text"),  # trtllm-serve takes token-id prompts
    # its usage reporting, on by default in recent releases (tensorrt_llm usage_lib: "1")
    telemetry_off={"TRTLLM_NO_USAGE_STATS": "1"},
    image="tensorrt-llm",
    aliases=("tensorrt_llm", "tensorrt-llm", "trtllm"),
)
