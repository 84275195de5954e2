"""Server plans are sized like a deployed server: fixed by the backend settings, the model and the
context, never by the load, so that every point of a concurrency sweep asks for the same server."""

from __future__ import annotations

import pytest
from specs import compose_spec

LOAD_VARIANTS = [
    ["workload.concurrency=1"],
    ["workload.concurrency=16", "workload.num_prompts=64"],
    ["workload.request_rate=2.5", "workload.arrival=burst", "workload.burst_size=3"],
    ["workload.seed=7", "workload.slo_ttft_s=0.5", "workload.slo_tpot_s=0.1", "workload.batch_size=32"],
    ["workload.endpoint=chat"],
]


@pytest.mark.parametrize("backend", ["llamacpp", "vllm"])
def test_plan_does_not_depend_on_the_load(backend):
    from llem.serving.plan import plan_for

    base = plan_for(compose_spec(f"backend={backend}"), "cpu", 8000)
    assert plan_for(compose_spec(f"backend={backend}"), "cpu", 8000) == base  # deterministic
    for variant in LOAD_VARIANTS:
        assert plan_for(compose_spec(f"backend={backend}", *variant), "cpu", 8000) == base, variant
    assert plan_for(compose_spec(f"backend={backend}"), "cpu", 8001).argv != base.argv  # only the port differs


def test_vllm_server_uses_its_own_running_batch_default_unless_set():
    from llem.serving.plan import plan_for

    argv = plan_for(compose_spec("backend=vllm", "workload.concurrency=8"), "cpu", 8000).argv
    assert "--max-num-seqs" not in argv
    assert argv[argv.index("--max-model-len") + 1] == str(128 + 32)  # context sizing: input + output tokens
    set_ = plan_for(compose_spec("backend=vllm", "backend.max_num_seqs=6", "workload.concurrency=8"), "cpu", 8000).argv
    assert set_[set_.index("--max-num-seqs") + 1] == "6"


def test_sglang_and_trtllm_plans_leave_the_running_batch_to_the_engine():
    from llem.backends.sglang.config import SglangConfig
    from llem.backends.tensorrt.config import TensorRTConfig
    from llem.backends.sglang.server import server_plan as sglang_plan
    from llem.backends.tensorrt.server import server_plan as trtllm_plan

    # their backends need CUDA to validate: a CPU spec with their settings swapped in
    spec = compose_spec("backend=vllm", "workload.concurrency=8")
    sg = spec.model_copy(update={"backend": SglangConfig(name="sglang").model_dump(mode="json")})
    argv = sglang_plan(sg, "cuda", 30000).argv
    assert "--max-running-requests" not in argv and argv[argv.index("--context-length") + 1] == "160"
    trt = spec.model_copy(update={"backend": TensorRTConfig(name="tensorrt").model_dump(mode="json")})
    argv = trtllm_plan(trt, "cuda", 8001).argv
    assert "--max_batch_size" not in argv and argv[argv.index("--max_seq_len") + 1] == "160"


def test_every_server_entry_of_the_registry_resolves_without_importing_its_engine():
    import sys

    from llem.registry import builtin_engines, load_object

    heavy = {"llama_cpp", "vllm", "sglang", "tensorrt_llm"}
    before = heavy & set(sys.modules)
    found = builtin_engines()
    servers = {name: info.server for name, info in found.items() if info.server}
    assert set(servers) == {"llamacpp", "vllm", "sglang", "tensorrt"} and found["pytorch"].server is None
    for name, path in servers.items():
        assert path.startswith(f"llem.backends.{name}.server:") and callable(load_object(path))
    assert heavy & set(sys.modules) == before


def test_pytorch_has_no_server_and_says_so_in_one_sentence():
    from llem.errors import UserError
    from llem.serving.plan import plan_for

    with pytest.raises(UserError) as err:
        plan_for(compose_spec("backend=pytorch"), "cpu", 8000)
    assert str(err.value) == (
        "backend=pytorch has no server llem can start: use backend=llamacpp, sglang, tensorrt or "
        "vllm, or attach with workload.server_url=<url>."
    )  # discovered engines, by name


def test_engine_version_comes_from_the_registry_dists():
    import importlib.metadata as md

    from llem.registry import engine_version

    assert engine_version("llamacpp") == md.version("llama_cpp_python")
    assert engine_version("pytorch") == md.version("transformers")  # the first of its dists installed
