"""workload.response_format=json_schema (structured output): the schema file checked before any model loads and
hashed into the run's identity, engines that cannot constrain refused in one sentence, each engine's mapping of
the schema (vLLM, SGLang, llama.cpp; offline parameters and server request fields), and the records llem
derives from validated outputs. Real engine runs: tests/backends/test_llamacpp.py, tests/backends/test_vllm.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llem.cli import prevalidate
from llem.errors import UserError
from llem.workload.structured import check_output, grammar_phase, summary, support_for, validator, window_record

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "llem/workload/data/structured_example.schema.json"
PROMPTS = REPO / "llem/workload/data/structured_example.jsonl"
BASE = ["model=tiny", "hardware=cpu", "tracking=none", "energy=none"]


def structured(schema=SCHEMA, *more: str) -> list[str]:
    return [*BASE, "workload=structured", f"workload.schema_path={schema}", *more]


def job(backend: str, mode: str = "offline", output_tokens: int = 32, schema=SCHEMA, **settings):
    """A JobSpec built directly (no installed engine needed): structured output with the shipped schema."""
    from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, WorkloadSpec
    from llem.registry import backend_info

    return JobSpec(
        backend=backend_info(backend).settings_model()(**settings).model_dump(mode="json"),
        model=ModelSpec(name="tiny", source="builtin", id="tiny"),
        hardware=HardwareSpec(name="h100", device="cuda"),
        energy=EnergySpec(meter="none"),
        workload=WorkloadSpec(
            name="structured",
            mode=mode,
            output_tokens=output_tokens,
            response_format="json_schema" if schema else "text",
            schema_path=str(schema) if schema else None,
        ),
    )


def _refused(overrides: list[str]) -> str:
    with pytest.raises(UserError) as exc:
        prevalidate(overrides)
    message = str(exc.value)
    assert "\n" not in message and message.endswith("."), message
    return message


# ------------------------------------------------------------------ validation before any model loads


def test_the_shipped_example_validates():
    assert prevalidate(structured(SCHEMA, "backend=llamacpp", "workload.source=jsonl", f"workload.path={PROMPTS}")) == 1


@pytest.mark.parametrize(
    "content,words",
    [
        (None, "does not exist"),
        ("{not json", "is not JSON"),
        ("[1, 2]", "holds a JSON list, not a JSON Schema object"),
        ('{"type": 5}', "is not a valid JSON Schema (at type:"),
        ('{"properties": {"a": {"minLength": "three"}}}', "is not a valid JSON Schema (at properties/a/minLength:"),
    ],
)
def test_bad_schema_files_are_one_sentence(tmp_path, content, words):
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    message = _refused(structured(path, "backend=llamacpp"))
    assert f"workload.schema_path={path}" in message and words in message


def test_engines_that_cannot_constrain_are_refused_naming_those_that_can():
    message = _refused(structured(SCHEMA, "backend=pytorch"))
    assert message.startswith("backend=pytorch cannot constrain its output to a JSON schema")
    assert "llamacpp" in message and "sglang" in message and "vllm" in message and "workload.response_format=text" in message
    sglang = _refused(structured(SCHEMA, "backend=sglang", "hardware=cuda", "++backend.engine_kwargs.grammar_backend=none"))
    assert "grammar_backend=none turns SGLang's constrained decoding off" in sglang


@pytest.mark.parametrize(
    "extra,words",
    [
        (["workload.response_format=text"], "workload.schema_path="),  # a schema that would constrain nothing
        (["run.phases=true"], "run.phases=true splits prefill from decode"),
        (["workload.mode=server", "workload.endpoint=chat", "workload.turns=2"], "workload.turns=2 (multi-turn sessions)"),
        (
            [
                "workload=chat",
                f"workload.path={REPO / 'llem/workload/data/chat_example.jsonl'}",
                "workload.mode=server",
                "workload.output_lengths=dataset",
                "model=smollm2-135m",
                "workload.response_format=json_schema",
            ],
            "output_lengths=dataset",
        ),
    ],
)
def test_settings_that_assume_fixed_lengths_are_refused(extra, words):
    assert words in _refused(structured(SCHEMA, "backend=llamacpp", *extra))


def test_json_schema_without_a_schema_file_is_refused():
    assert "needs workload.schema_path=<file.json>" in _refused(
        [*BASE, "backend=llamacpp", "workload.response_format=json_schema"]
    )


def test_cli_exits_2_before_anything_loads(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "llem", *structured(bad, "backend=llamacpp"), f"run.output_root={tmp_path / 'out'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "is not JSON" in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ identity


def test_schema_content_is_part_of_the_identity(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(SCHEMA.read_text(encoding="utf-8"), encoding="utf-8")
    plain = job("llamacpp", schema=None)
    assert "response_format" not in plain.identity()["workload"] and "schema_path" not in plain.identity()["workload"]
    first = job("llamacpp", schema=schema)
    assert first.identity()["workload"]["response_format"] == "json_schema"
    assert set(first.identity()["inputs"]) == {"workload.schema_path"} and first.config_hash() != plain.config_hash()
    assert first.slug().endswith("_json")
    before = first.config_hash()
    data = json.loads(schema.read_text(encoding="utf-8"))
    data["properties"]["city"]["maxLength"] = 12
    schema.write_text(json.dumps(data), encoding="utf-8")
    assert job("llamacpp", schema=schema).config_hash() != before  # the same path, other bytes: another run


# ------------------------------------------------------------------ each engine's mapping


def test_vllm_offline_and_server_mapping():
    from llem.backends.vllm.mapping import sampling_kwargs

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    spec = job("vllm", output_tokens=40)
    kw = sampling_kwargs(spec, schema)
    assert kw == {"max_tokens": 40, "structured_outputs": {"json": schema}, "temperature": 0.0}  # no ignore_eos, no min_tokens
    assert sampling_kwargs(spec)["ignore_eos"] is True  # without a schema: fixed length, as before
    support = support_for(spec)
    assert support.grammar_backend.startswith("auto") and support.refusal is None
    body = support.server_body(schema)["response_format"]
    assert body["type"] == "json_schema" and body["json_schema"]["schema"] == schema and body["json_schema"]["name"]
    pinned = job("vllm", engine_kwargs={"structured_outputs_config": {"backend": "guidance"}})
    assert support_for(pinned).grammar_backend == "guidance"


def test_sglang_offline_and_server_mapping():
    from llem.backends.sglang.mapping import sampling_params

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    spec = job("sglang", output_tokens=40)
    params = sampling_params(spec, schema)
    assert params == {"max_new_tokens": 40, "json_schema": json.dumps(schema), "temperature": 0.0}
    assert json.loads(params["json_schema"]) == schema
    support = support_for(spec)
    assert support.grammar_backend == "xgrammar"  # SGLang's own default (ServerArgs._handle_grammar_backend)
    assert support.server_body(schema)["response_format"]["json_schema"]["schema"] == schema
    chosen = job("sglang", engine_kwargs={"grammar_backend": "llguidance"})
    assert support_for(chosen).grammar_backend == "llguidance"


def test_server_request_bodies_drop_fixed_length_fields():
    """With a schema the request carries no ignore_eos / min_tokens and none of the plan's own fixed-length
    fields (llama-cpp-python's server: the end-of-generation logit bias), and the engine's schema field instead."""
    from llem.harness.server import _extra_body

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    vllm = job("vllm", mode="server")
    body = _extra_body(vllm, ("min_tokens", "ignore_eos"), {"return_token_ids": True})
    assert body["response_format"]["json_schema"]["schema"] == schema and body["return_token_ids"] is True
    assert "min_tokens" not in body and "ignore_eos" not in body
    server = job("llamacpp", mode="server", server="llama-server")
    body = _extra_body(server, ("ignore_eos",), {"top_k": 0, "seed": 0})
    assert body == {"temperature": 0.0, "top_k": 0, "seed": 0, "json_schema": schema}


@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
def test_llamacpp_python_server_gets_the_schema_as_gbnf_without_its_eog_bias():
    from llem.harness.server import _extra_body

    python = job("llamacpp", mode="server")
    grammar = support_for(python).server_body(json.loads(SCHEMA.read_text(encoding="utf-8")))["grammar"]
    assert "root ::=" in grammar and "climate-kv" in grammar and "tropical" in grammar
    extras = {"repeat_penalty": 1.0, "logit_bias": {"2": -1e9}, "logit_bias_type": "input_ids"}  # its plan's fixed length
    assert _extra_body(python, ("logit_bias",), extras) == {"temperature": 0.0, "repeat_penalty": 1.0, "grammar": grammar}


# ------------------------------------------------------------------ validation and records


def test_outputs_are_validated_and_counted():
    check = validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    good = json.dumps({"city": "Oslo", "country": "Norway", "coastal": True, "climate": "continental"})
    assert check_output(check, good) is None
    assert check_output(check, good[:-3]).startswith("not JSON")
    assert check_output(check, good.replace("Oslo", "Os\x05lo")) == "not JSON (Invalid control character at character 12)"
    assert "is not one of" in check_output(check, good.replace("continental", "humid"))
    assert "Additional properties" in check_output(check, good[:-1] + ', "x": 1}')
    rec = window_record(check, [good, good[:-3], good], [20, 48, 22], 48, 12.0, 6.0, ["a", "b", "c"])
    assert rec["objects"] == 3 and rec["valid"] == 2 and rec["valid_fraction"] == pytest.approx(2 / 3)
    assert rec["energy_j_per_valid_object"] == 6.0 and rec["dynamic_energy_j_per_valid_object"] == 3.0
    assert rec["at_cap"] == 1 and rec["tokens_per_object"] == 30 and rec["first_invalid"]["request"] == "b"
    unmetered = window_record(check, [good], [20], 48, None, None)
    assert unmetered["energy_j_per_valid_object"] is None and unmetered["reason"] == "no energy measured in this window"
    spec = job("llamacpp")
    block, flags = summary(spec, [{"structured": rec}, {"structured": unmetered}], support_for(spec), None, None)
    assert block["valid_objects"] == 3 and block["objects"] == 4 and block["valid_fraction"] == 0.75
    assert block["energy_j_per_valid_object"] == 6.0 and block["tokens_per_object"] == pytest.approx(110 / 4)
    assert any(f.startswith("structured_invalid: window 0: 1 of 3") for f in flags)
    assert any(f.startswith("structured_at_cap: 1 of 4") for f in flags)
    none, _ = summary(spec, [{"structured": unmetered}], support_for(spec), None, None)
    assert none["energy_j_per_valid_object"] is None and none["reason"] == "no energy measured in this window"


def test_grammar_phase_order_and_difference():
    calls, times = [], iter([0.5, 2.0, 0.75])
    record = grammar_phase(lambda constrained: calls.append(constrained) or next(times), lambda _m: None)
    assert calls == [False, True, True]
    assert record["compile_s"] == 1.25 and record["unconstrained_request_s"] == 0.5
