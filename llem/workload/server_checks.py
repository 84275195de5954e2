"""Validation of workload.mode=server, run by llem.spec before anything heavy is imported or any server starts.

Plain rules on names (no engine or client import): the spec may import this module.
"""

from __future__ import annotations

import importlib.util
from urllib.parse import urlparse

from llem.errors import UserError

# WorkloadSpec fields that only mean something in server mode (left out of offline config hashes).
SERVER_ONLY_FIELDS = ("concurrency", "request_rate", "arrival", "burst_size", "server_url",
                      "ready_timeout_s", "slo_ttft_s", "slo_tpot_s", "endpoint", "client_processes")

# Backends whose server's /v1/completions takes a prompt as a list of token ids (workload.source=synthetic):
# vLLM, SGLang and trtllm-serve do; llama-cpp-python's server takes text only (its prompt field is str | list[str]).
TOKEN_ID_SERVERS = ("vllm", "sglang", "tensorrt")

# Modules llama-cpp-python's server imports (its [server] extra).
LLAMACPP_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def check_server_workload(w) -> None:
    """Field-level rules of a server workload."""
    if w.server_url is not None:
        url = urlparse(w.server_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UserError(f"workload.server_url={w.server_url} is not a valid server address: give a URL "
                            f"such as http://127.0.0.1:8000 (the server's base, without /v1).")
    if w.client_processes is not None and w.client_processes > w.concurrency:
        raise UserError(f"workload.client_processes={w.client_processes} is more than workload.concurrency={w.concurrency}: "
                        f"each load-generator process holds at least one request slot; use at most {w.concurrency}, "
                        f"or null to choose from the load.")
    if w.source == "synthetic" and w.endpoint == "chat":
        raise UserError("workload.source=synthetic cannot be sent with workload.endpoint=chat (a chat message is text; token-id "
                        "prompts go to /v1/completions only): use workload.endpoint=completions with synthetic prompts, "
                        "or workload.source=builtin or jsonl with chat.")


def check_server_job(spec) -> None:
    """Cross-field rules: a server this backend can start, and the client library."""
    if importlib.util.find_spec("aiohttp") is None:
        raise UserError("workload.mode=server needs the Python package 'aiohttp' for its load generator, which is not installed: run pip install aiohttp (or pip install 'llem[server]').")
    if spec.workload.source == "synthetic" and spec.backend_name not in TOKEN_ID_SERVERS:
        raise UserError(f"workload.source=synthetic is not supported by the backend={spec.backend_name} server (its /v1/completions "
                        f"takes text prompts only, not token ids): use backend=vllm, sglang or tensorrt for token-id prompts, "
                        f"or workload.source=builtin or jsonl with backend={spec.backend_name}.")
    if spec.workload.server_url is not None:
        return  # attached: llem starts nothing, the backend only names the engine
    name = spec.backend_name
    if name == "llamacpp":
        # backend.server=llama-server runs llama.cpp's own binary (found, or refused, when its plan is made)
        python_server = spec.backend["server"] == "python"
        missing = [m for m in LLAMACPP_SERVER_MODULES if python_server and importlib.util.find_spec(m) is None]
        if missing:
            raise UserError(f"backend=llamacpp with workload.mode=server needs llama.cpp's server, whose package '{missing[0]}' "
                            f"is not installed: run pip install 'llama-cpp-python[server]'.")
        if spec.backend["llama_kwargs"]:
            key = sorted(spec.backend["llama_kwargs"])[0]
            raise UserError(f"backend.llama_kwargs.{key} is not passed to llama.cpp's server: workload.mode=server "
                            f"supports the typed backend settings only (n_ctx, n_threads, n_gpu_layers, ...).")
    if name == "vllm" and spec.backend["batching"] == "static":
        raise UserError("backend.batching=static does not apply to workload.mode=server (a server batches continuously): "
                        "use backend.batching=continuous and set the load with workload.concurrency.")
