"""Server plans are sized like a deployed server: fixed by the backend settings, the model and the
context, never by the load, so that every point of a concurrency sweep asks for the same server."""

from __future__ import annotations

import pytest
from specs import compose_spec

LOAD_VARIANTS = [["workload.concurrency=1"], ["workload.concurrency=16", "workload.num_prompts=64"],
                 ["workload.request_rate=2.5", "workload.arrival=burst", "workload.burst_size=3"],
                 ["workload.seed=7", "workload.slo_ttft_s=0.5", "workload.slo_tpot_s=0.1", "workload.batch_size=32"],
                 ["workload.endpoint=chat"]]


@pytest.mark.parametrize("backend", ["llamacpp", "vllm"])
def test_plan_does_not_depend_on_the_load(backend):
    from llem.serving.plans import plan_for

    base = plan_for(compose_spec(f"backend={backend}"), "cpu", 8000)
    assert plan_for(compose_spec(f"backend={backend}"), "cpu", 8000) == base  # deterministic
    for variant in LOAD_VARIANTS:
        assert plan_for(compose_spec(f"backend={backend}", *variant), "cpu", 8000) == base, variant
    assert plan_for(compose_spec(f"backend={backend}"), "cpu", 8001).argv != base.argv  # only the port differs


def test_vllm_server_uses_its_own_running_batch_default_unless_set():
    from llem.serving.plans import plan_for

    argv = plan_for(compose_spec("backend=vllm", "workload.concurrency=8"), "cpu", 8000).argv
    assert "--max-num-seqs" not in argv
    assert argv[argv.index("--max-model-len") + 1] == str(128 + 32)  # context sizing: input + output tokens
    set_ = plan_for(compose_spec("backend=vllm", "backend.max_num_seqs=6", "workload.concurrency=8"), "cpu", 8000).argv
    assert set_[set_.index("--max-num-seqs") + 1] == "6"


def test_sglang_and_trtllm_plans_leave_the_running_batch_to_the_engine():
    from llem.backends.sglang.config import SglangConfig
    from llem.backends.tensorrt.config import TensorRTConfig
    from llem.serving import plans

    # their backends need CUDA to validate: a CPU spec with their settings swapped in
    spec = compose_spec("backend=vllm", "workload.concurrency=8")
    sg = spec.model_copy(update={"backend": SglangConfig(name="sglang").model_dump(mode="json")})
    argv = plans._sglang(sg, 30000).argv
    assert "--max-running-requests" not in argv and argv[argv.index("--context-length") + 1] == "160"
    trt = spec.model_copy(update={"backend": TensorRTConfig(name="tensorrt").model_dump(mode="json")})
    argv = plans._trtllm(trt, 8001).argv
    assert "--max_batch_size" not in argv and argv[argv.index("--max_seq_len") + 1] == "160"
