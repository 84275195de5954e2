"""Engines' and libraries' usage reporting, turned off for everything llem runs: a measurement must not
send packets to the internet in its measured windows (nor anywhere else: llem talks to loopback only).

Set with setdefault semantics: a variable the user exported is left as it is (documented in
docs/energy.md, "Network during a measurement"). Each entry names where the library reads it.
"""

from __future__ import annotations

from typing import MutableMapping

OPT_OUTS = {
    # vLLM usage stats (vllm/envs.py: VLLM_NO_USAGE_STATS == "1"; VLLM_DO_NOT_TRACK or DO_NOT_TRACK == "1")
    "VLLM_NO_USAGE_STATS": "1",
    "VLLM_DO_NOT_TRACK": "1",
    # the cross-tool convention (consoledonottrack.com), read by vLLM as "1"
    "DO_NOT_TRACK": "1",
    # huggingface_hub's telemetry (transformers, SGLang, vLLM and TensorRT-LLM load through it)
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # MLflow 3's telemetry (mlflow/telemetry/utils.py): it reads DO_NOT_TRACK only as "true", so its own
    # variable is needed beside DO_NOT_TRACK=1
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # TensorRT-LLM's usage reporting, on by default in its recent releases (tensorrt_llm usage_lib: "1")
    "TRTLLM_NO_USAGE_STATS": "1",
    # vLLM finds its own address by connecting a UDP socket to 8.8.8.8 (vllm/utils/network_utils.py get_ip;
    # no packet is sent, but it is a connect to the internet): on one machine its processes meet on loopback
    "VLLM_HOST_IP": "127.0.0.1",
    # SGLang 0.5.16 has no usage reporting of its own to turn off (its wheel's only telemetry is OpenTelemetry
    # tracing, off unless --enable-trace); its Hub downloads are covered by HF_HUB_DISABLE_TELEMETRY.
}


def opt_out(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add every opt-out the user has not set to env (os.environ or a child's environment); returns env."""
    for key, value in OPT_OUTS.items():
        env.setdefault(key, value)
    return env
