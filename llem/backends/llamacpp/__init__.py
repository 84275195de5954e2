"""llama.cpp backend through llama-cpp-python. config.py imports nothing heavy; backend.py imports the engine."""

from llem.backends.llamacpp.server_metrics import SERIES
from llem.registry import Engine

ENGINE = Engine(
    name="llamacpp",
    env_prefixes=("LLAMA_", "GGML_"),
    settings="llem.backends.llamacpp.config:LlamaCppConfig",
    offline="llem.backends.llamacpp.backend:LlamaCppBackend",
    server="llem.backends.llamacpp.server:server_plan",
    extra="llamacpp",
    modules=("llama_cpp",),
    dists=("llama_cpp_python",),
    isolation_group="llamacpp",
    prompts=("text",),  # llama-cpp-python's server: its prompt field is str | list[str]
    prompt_counter="llem.backends.llamacpp.prompt_tokens:count_for_spec",
    aliases=("llama_cpp", "llama.cpp"),
    # llama-server's (backend.server=llama-server) slot-time counters; llama-cpp-python's server has none
    phase_series=SERIES,
    phase_reader="llem.backends.llamacpp.server_metrics:phase_share",
    prefix_cache="llem.backends.llamacpp.prefix_cache:readout",
    structured="llem.backends.llamacpp.structured:support",
    speculative="llem.backends.llamacpp.speculative:readout",  # llama-server only
)
