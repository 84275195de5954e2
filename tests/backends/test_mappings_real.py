"""llem's engine mappings checked against the engines' real argument definitions: a field llem emits
must exist there and its value must fit the declared type.

- vLLM: the installed package's EngineArgs (typing hints), and the server command line parsed by
  vLLM's own argument parser.
- SGLang: ServerArgs from the release's sources, read with ast (SGLang needs a GPU to import;
  .ci/install.d/32-sglang-source.sh downloads the wheel with --no-deps and extracts them), for the
  pinned release and the newest one checked (versions.env SGLANG and SGLANG_NEWEST): the two layouts.
- TensorRT-LLM: not installable here (no wheel for this Python/CPU on the index), so only the lists
  in tests/backends/test_tensorrt.py (named to a release) check it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from fieldtypes import fits, from_source

from llem.models.source import ModelSource

needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vLLM is not installed: run bash .ci/install.d/31-vllm.sh"
)


def _vllm_jobs():
    from test_vllm import job

    return [
        job(),
        job(
            hardware="h100",
            gpu_count=2,
            fp8=True,
            max_num_batched_tokens=4096,
            enable_prefix_caching=False,
            enable_chunked_prefill=True,
            block_size=16,
            quantization="fp8",
            kv_cache_dtype="fp8_e4m3",
            tensor_parallel_size=2,
            speculative_config={"method": "ngram", "num_speculative_tokens": 4},
            enforce_eager=True,
            max_model_len=2048,
            gpu_memory_utilization=0.8,
            seed=3,
        ),
    ]


@needs_vllm
def test_vllm_fields_exist_in_engine_args_with_their_types():
    from fieldtypes import dataclass_hints
    from vllm.engine.arg_utils import EngineArgs

    from llem.backends.vllm.mapping import engine_kwargs

    hints = dataclass_hints(EngineArgs)
    for spec in _vllm_jobs():
        for key, value in engine_kwargs(spec, ModelSource("/m", "/t", "dummy", "x")).items():
            assert key in hints, f"llem emits {key}, which vLLM's EngineArgs does not have"
            assert fits(hints[key], value), f"{key}={value!r} does not fit EngineArgs.{key}: {hints[key]}"
    assert not fits(hints["max_num_seqs"], "8") and not fits(hints["enforce_eager"], 1)  # the checker can say no


@needs_vllm
def test_vllm_server_command_line_parses_with_vllms_own_parser():
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from llem.backends.vllm.mapping import engine_kwargs
    from llem.backends.vllm.server import command

    for spec in _vllm_jobs():
        kwargs = engine_kwargs(spec, ModelSource("/m", "/t", "dummy", "x"))
        for serve_cli, skip in ((True, 4), (False, 3)):  # after "python -m <module> [serve]"
            plan = command(kwargs, 8000, serve_cli=serve_cli)
            args = make_arg_parser(FlexibleArgumentParser()).parse_args(plan.argv[skip:])
            assert (args.model_tag if serve_cli else args.model) == "/m"
            assert args.port == 8000 and args.host == "127.0.0.1" and args.max_model_len == kwargs["max_model_len"]
            assert (
                args.enforce_eager == kwargs.get("enforce_eager", False)
                and args.tensor_parallel_size == kwargs["tensor_parallel_size"]
            )


def sglang_releases() -> list[str]:
    """The pinned release and the newest checked one (.ci/versions.env), or LLEM_SGLANG_RELEASES (the drift script's)."""
    named = os.environ.get("LLEM_SGLANG_RELEASES")
    if named:
        return named.split()
    env = dict(
        line.split("=", 1)
        for line in (Path(__file__).resolve().parents[2] / ".ci" / "versions.env").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return [env["SGLANG"], env["SGLANG_NEWEST"]]


def sglang_file(name: str, release: str) -> Path:
    root = Path(
        os.environ.get("LLEM_SGLANG_SOURCE")
        or Path(os.environ.get("LLEM_CI_CACHE", "/root/.cache/llem-ci")) / f"sglang-{release}"
    )
    path = root / "sglang" / "srt" / name
    if not path.is_file():
        pytest.skip(f"SGLang {release}'s {name} is not here: bash .ci/install.d/32-sglang-source.sh downloads it")
    return path


def _sglang_file(name: str) -> Path:
    from llem.backends.sglang.serverargs import PINNED_RELEASE

    return sglang_file(name, PINNED_RELEASE)


def _sglang_jobs():
    from test_sglang import job

    return [
        job(),
        job(
            gpu_count=2,
            quantization="fp8",
            kv_cache_dtype="fp8_e4m3",
            mem_fraction_static=0.8,
            max_running_requests=16,
            chunked_prefill_size=-1,
            max_prefill_tokens=4096,
            disable_radix_cache=True,
            tp_size=2,
            attention_backend="fa3",
            disable_cuda_graph=True,
            page_size=16,
            context_length=512,
        ),
        job(disable_decode_cuda_graph=True, disable_prefill_cuda_graph=False),
        job(
            speculative_algorithm="EAGLE3",
            speculative_draft_model_path="/models/draft",
            speculative_num_steps=3,
            speculative_eagle_topk=1,
            speculative_num_draft_tokens=4,
        ),
    ]


@pytest.mark.parametrize("release", sglang_releases())
def test_sglang_fields_exist_in_server_args_with_their_types(release):
    from llem.backends.sglang.mapping import engine_kwargs
    from llem.backends.sglang.serverargs import read

    fields = read(str(sglang_file("server_args.py", release))).fields
    assert len(fields) > 100  # the real class, not a stub
    for spec in _sglang_jobs():
        for key, value in engine_kwargs(spec, "/models/x", "/models/x-tok", phase_flags=True).items():
            assert key in fields, f"llem emits {key}, which SGLang's ServerArgs does not have"
            tp = from_source(fields[key].type)
            assert fits(tp, value), f"{key}={value!r} does not fit ServerArgs.{key}: {fields[key].type}"
            if fields[key].choices and value is not None:
                assert value in fields[key].choices, f"{key}={value!r} is not one of SGLang's choices"


def test_sglang_pinned_choice_lists_are_that_releases_own():
    from llem.backends.sglang.serverargs import PINNED_CHOICES, read

    source = read(str(_sglang_file("server_args.py")))
    for key, pinned in PINNED_CHOICES.items():
        assert set(pinned) <= set(source.choices(key)), (key, set(pinned) - set(source.choices(key)))


def test_sglang_speculative_algorithms_are_that_releases_builtins():
    """speculative_algorithm is a free string in ServerArgs; its help names the built-in algorithms."""
    from llem.backends.sglang.config import SPECULATIVE_ALGORITHMS

    text = _sglang_file("server_args.py").read_text()
    builtins = text.split("Builtins: ", 1)[1].split(".", 1)[0]
    assert set(SPECULATIVE_ALGORITHMS) == {name.strip() for name in builtins.split(",")}, builtins


@pytest.mark.parametrize("release", sglang_releases())
def test_sglang_sampling_params_are_fields_of_its_sampling_params(release):
    import ast

    from llem.backends.sglang.mapping import sampling_params

    tree = ast.parse(sglang_file("sampling/sampling_params.py", release).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SamplingParams")
    # a msgspec struct's annotated fields (0.5.1x), or the parameters of an older release's __init__
    accepted = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    for init in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"):
        accepted |= {a.arg for a in init.args.args + init.args.kwonlyargs}
    assert {"max_new_tokens", "temperature"} <= accepted
    for spec in _sglang_jobs():
        assert set(sampling_params(spec)) <= accepted, set(sampling_params(spec)) - accepted
    structured = sampling_params(_sglang_jobs()[0], {"type": "object"})  # workload.response_format=json_schema
    assert "json_schema" in structured and set(structured) <= accepted, set(structured) - accepted
    assert "grammar_backend" in read_server_args(release).fields  # the setting llem reads the grammar backend from


def read_server_args(release: str):
    from llem.backends.sglang.serverargs import read

    return read(str(sglang_file("server_args.py", release)))


@needs_vllm
def test_vllm_takes_the_structured_output_mapping():
    """workload.response_format=json_schema: the offline SamplingParams builds with the installed vLLM, and the
    server request body, parsed by vLLM's own CompletionRequest, carries the schema into its SamplingParams."""
    import json

    from test_structured import SCHEMA, job
    from vllm.entrypoints.openai.completion.protocol import CompletionRequest

    from llem.backends.vllm.backend import _sampling_params
    from llem.workload.structured import support_for

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    spec = job("vllm", output_tokens=40)
    params = _sampling_params(spec)
    assert params.structured_outputs.json == schema and params.max_tokens == 40
    assert not params.ignore_eos and params.min_tokens == 0  # an object ends where it ends
    body = {"model": "m", "prompt": [1, 2, 3], "max_tokens": 40, **support_for(job("vllm", mode="server")).server_body(schema)}
    served = CompletionRequest(**body).to_sampling_params(40)
    assert served.structured_outputs is not None and served.structured_outputs.json == schema
