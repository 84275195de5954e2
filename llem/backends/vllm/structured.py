"""How vLLM constrains its output to a JSON schema (the registry's `structured` entry; docs/workloads.md).

Offline: `SamplingParams(structured_outputs=StructuredOutputsParams(json=<schema>))` (vllm/sampling_params.py; the
older `guided_decoding` is gone). Server: the OpenAI field `response_format` of type json_schema, which vLLM turns into
the same StructuredOutputsParams for /v1/completions and /v1/chat/completions. The grammar backend is the engine
argument `structured_outputs_config` (its `backend`, default "auto": vLLM picks xgrammar per request where the schema
allows, else guidance); offline, the backend each request got is read back (StructuredOutputsParams._backend).
No vLLM import here.
"""

from __future__ import annotations

from llem.workload.structured import StructuredSupport, response_format

AUTO = "auto (vLLM's default: xgrammar where it supports the schema, else guidance, chosen per request)"


def configured_backend(spec) -> str:
    """The grammar backend as configured: backend.engine_kwargs.structured_outputs_config.backend, else vLLM's auto."""
    config = spec.backend["engine_kwargs"].get("structured_outputs_config") or {}
    backend = config.get("backend") if isinstance(config, dict) else None
    return AUTO if backend in (None, "auto") else str(backend)


def support(spec) -> StructuredSupport:
    how = (
        "SamplingParams(structured_outputs=StructuredOutputsParams(json=schema))"
        if spec.workload.mode == "offline"
        else "request field response_format (type json_schema)"
    )
    return StructuredSupport(configured_backend(spec), how, server_body=response_format)
