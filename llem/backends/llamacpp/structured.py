"""How llama.cpp constrains its output to a JSON schema (the registry's `structured` entry; docs/workloads.md).

Its grammar backend is its own GBNF grammar sampler. Offline, llama-cpp-python's `json_schema_to_gbnf` turns the
schema into a GBNF grammar once per job (timed, outside the windows), and every sequence's sampler chain starts with
`llama_sampler_init_grammar` on it; llama.cpp parses the grammar text when that sampler is made and again at every
`llama_sampler_reset`, i.e. before each engine call: that parse is inside the windows, as llama-server pays it per
request. Server: llama-server takes the schema itself (request field `json_schema`, converted by its C++
`json_schema_to_grammar` per request); llama-cpp-python's server takes a GBNF grammar (request field `grammar`),
converted here once. The bindings are imported only when a grammar is made.
"""

from __future__ import annotations

import json

from llem.workload.structured import StructuredSupport

GRAMMAR_BACKEND = "llama.cpp GBNF grammar sampler"


def gbnf(schema: dict) -> str:
    """The schema as a GBNF grammar (root rule `root`), by llama-cpp-python's converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema))


def support(spec) -> StructuredSupport:
    if spec.workload.mode == "offline":
        return StructuredSupport(
            f"{GRAMMAR_BACKEND} (schema converted by llama-cpp-python's json_schema_to_gbnf)",
            "a grammar sampler first in every sequence's sampler chain; end-of-generation allowed",
        )
    if spec.backend["server"] == "llama-server":
        return StructuredSupport(
            f"{GRAMMAR_BACKEND} (schema converted by llama-server's json_schema_to_grammar, per request)",
            "request field json_schema",
            server_body=lambda schema: {"json_schema": schema},
        )
    return StructuredSupport(
        f"{GRAMMAR_BACKEND} (schema converted by llama-cpp-python's json_schema_to_gbnf, once)",
        "request field grammar (GBNF)",
        server_body=lambda schema: {"grammar": gbnf(schema)},
    )
