"""How SGLang constrains its output to a JSON schema (the registry's `structured` entry; docs/workloads.md).

Offline: the sampling parameter `json_schema` (the schema as a JSON string; sglang/srt/sampling/sampling_params.py).
Server: the OpenAI field `response_format` of type json_schema, which SGLang's /v1/completions and
/v1/chat/completions turn into that same sampling parameter. The grammar backend is the ServerArgs field
`grammar_backend` (backend.engine_kwargs.grammar_backend; unset, SGLang resolves it to xgrammar: ServerArgs
_handle_grammar_backend); "none" turns constraining off and is refused. No SGLang import here.
"""

from __future__ import annotations

from llem.workload.structured import StructuredSupport, response_format

DEFAULT = "xgrammar"  # what SGLang resolves grammar_backend=None to


def configured_backend(spec) -> str:
    return str(spec.backend["engine_kwargs"].get("grammar_backend") or DEFAULT)


def support(spec) -> StructuredSupport:
    backend = configured_backend(spec)
    refusal = None
    if backend == "none":
        refusal = (
            "backend.engine_kwargs.grammar_backend=none turns SGLang's constrained decoding off, so "
            "workload.response_format=json_schema cannot be honoured: use xgrammar, llguidance or outlines, "
            "or leave it unset."
        )
    how = (
        "sampling parameter json_schema (the schema as a JSON string)"
        if spec.workload.mode == "offline"
        else "request field response_format (type json_schema)"
    )
    return StructuredSupport(backend, how, server_body=response_format, refusal=refusal)
