"""SGLang backend: the mapping from llem's settings to SGLang's arguments, the pre-launch checks,
and a real-engine run where SGLang and a CUDA GPU exist (skipped here: SGLang has no CPU build)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from llem.backends.sglang.config import SglangConfig
from llem.backends.sglang.mapping import WHEN_SET, engine_kwargs, sampling_params
from llem.errors import UserError
from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, SamplingSpec, WorkloadSpec

from conftest import results_under, run_llem

# ServerArgs dataclass fields, read from sgl-project/sglang python/sglang/srt/server_args.py at
# commit 001067fffe33427bee0ed2f007fb7551a1d76b44 (the subset llem emits or documents).
SERVER_ARGS_FIELDS = {
    "model_path",
    "tokenizer_path",
    "tokenizer_mode",
    "skip_tokenizer_init",
    "load_format",
    "trust_remote_code",
    "context_length",
    "revision",
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "mem_fraction_static",
    "max_running_requests",
    "max_total_tokens",
    "chunked_prefill_size",
    "max_prefill_tokens",
    "schedule_policy",
    "page_size",
    "disable_radix_cache",
    "enable_mixed_chunk",
    "tp_size",
    "pp_size",
    "dp_size",
    "random_seed",
    "attention_backend",
    "disable_cuda_graph",
    "disable_decode_cuda_graph",
    "disable_prefill_cuda_graph",
    "log_level",
}
# sglang.srt.sampling.sampling_params.SamplingParams fields (same source tree).
SAMPLING_PARAMS_FIELDS = {
    "max_new_tokens",
    "stop",
    "stop_token_ids",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "frequency_penalty",
    "presence_penalty",
    "repetition_penalty",
    "min_new_tokens",
    "n",
    "ignore_eos",
    "skip_special_tokens",
}


def job(hardware: str = "h100", gpu_count: int = 1, fp8=True, temperature: float = 0.0, top_k: int = 0, **backend) -> JobSpec:
    settings = SglangConfig(**backend).model_dump(mode="json")
    return JobSpec(
        backend=settings,
        model=ModelSpec(name="tiny", source="builtin", id="tiny"),
        hardware=HardwareSpec(name=hardware, device="cpu" if hardware == "cpu" else "cuda", gpu_count=gpu_count, fp8=fp8),
        energy=EnergySpec(meter="none"),
        workload=WorkloadSpec(
            name="t",
            num_prompts=8,
            input_tokens=100,
            output_tokens=20,
            batch_size=4,
            sampling=SamplingSpec(temperature=temperature, top_k=top_k),
        ),
    )


def test_every_emitted_argument_is_a_server_args_field():
    spec = job(
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
    )
    kw = engine_kwargs(spec, "/models/x", "/models/x-tok")
    assert set(kw) <= SERVER_ARGS_FIELDS, set(kw) - SERVER_ARGS_FIELDS
    assert kw["model_path"] == "/models/x" and kw["tokenizer_path"] == "/models/x-tok"
    assert kw["disable_radix_cache"] is True and kw["chunked_prefill_size"] == -1
    assert kw["mem_fraction_static"] == 0.8 and kw["max_running_requests"] == 16 and kw["tp_size"] == 2
    assert kw["attention_backend"] == "fa3" and kw["kv_cache_dtype"] == "fp8_e4m3" and kw["quantization"] == "fp8"


def test_cuda_graphs_are_left_to_sglang_unless_set_and_sent_per_phase():
    from llem.backends.sglang.mapping import cuda_graph_kwargs

    kw = engine_kwargs(job(), phase_flags=True)
    assert not {"disable_cuda_graph", "disable_decode_cuda_graph", "disable_prefill_cuda_graph"} & set(kw)
    both = engine_kwargs(job(disable_cuda_graph=True), phase_flags=True)
    assert both["disable_decode_cuda_graph"] is True and both["disable_prefill_cuda_graph"] is True
    assert "disable_cuda_graph" not in both  # deprecated in SGLang, and no longer a server flag from 0.5.20
    one = job(disable_cuda_graph=True, disable_prefill_cuda_graph=False).backend
    assert cuda_graph_kwargs(one) == {"disable_decode_cuda_graph": True, "disable_prefill_cuda_graph": False}
    assert cuda_graph_kwargs(one, phase_flags=False) == {"disable_cuda_graph": True}  # a release without the per-phase flags
    assert cuda_graph_kwargs(job().backend, phase_flags=False) == {}


def test_defaults_leave_sglang_defaults_and_follow_the_workload():
    kw = engine_kwargs(job())
    assert not set(WHEN_SET) & set(kw)  # unset settings are not sent: SGLang's own defaults apply
    assert kw["model_path"] == "tiny" and "tokenizer_path" not in kw
    assert kw["max_running_requests"] == 4  # workload.batch_size caps the running batch
    assert kw["context_length"] == 120  # input_tokens + output_tokens
    assert kw["disable_radix_cache"] is False and kw["random_seed"] == 0


def test_sampling_params_fix_the_output_length():
    greedy = sampling_params(job())
    assert set(greedy) <= SAMPLING_PARAMS_FIELDS
    assert greedy == {"max_new_tokens": 20, "min_new_tokens": 20, "ignore_eos": True, "temperature": 0.0}
    sampled = sampling_params(job(temperature=0.7))
    assert set(sampled) <= SAMPLING_PARAMS_FIELDS
    assert sampled["temperature"] == 0.7 and sampled["top_k"] == -1 and sampled["min_new_tokens"] == 20


def test_passthrough_adds_arguments_but_never_shadows_typed_ones():
    kw = engine_kwargs(job(engine_kwargs={"schedule_policy": "lpm", "enable_mixed_chunk": True}))
    assert kw["schedule_policy"] == "lpm" and kw["enable_mixed_chunk"] is True
    with pytest.raises(UserError, match=r"engine_kwargs.tp_size duplicates the setting backend.tp_size"):
        SglangConfig.check(job(engine_kwargs={"tp_size": 2}))
    with pytest.raises(UserError, match=r"engine_kwargs.model_path is set by llem"):
        SglangConfig.check(job(engine_kwargs={"model_path": "/elsewhere"}))


@pytest.mark.parametrize(
    "settings, hardware, message",
    [
        ({"tp_size": 2}, {"gpu_count": 1}, r"backend.tp_size=2 x backend.pp_size=1 needs 2 GPUs but hardware.gpu_count=1"),
        ({"tp_size": 2, "pp_size": 2}, {"gpu_count": 2}, r"needs 4 GPUs"),
        (
            {"kv_cache_dtype": "fp8_e4m3"},
            {"hardware": "a100", "fp8": False},
            r"kv_cache_dtype=fp8_e4m3 needs FP8 support, which hardware=a100",
        ),
        ({"quantization": "w8a8_fp8"}, {"hardware": "a100", "fp8": False}, r"quantization=w8a8_fp8 needs FP8 support"),
        ({"quantization": "int3"}, {}, r"backend.quantization=int3 is not valid.*choose one of .*awq"),
        ({"attention_backend": "flash"}, {}, r"backend.attention_backend=flash is not valid.*flashinfer"),
        ({"kv_cache_dtype": "fp16"}, {}, r"backend.kv_cache_dtype=fp16 is not valid"),
        ({"context_length": 64}, {}, r"context_length=64 is shorter than .* = 120"),
        ({"chunked_prefill_size": 0}, {}, r"chunked_prefill_size=0 is not valid"),
    ],
)
def test_bad_settings_fail_before_launch_with_one_sentence(settings, hardware, message):
    with pytest.raises(UserError, match=message):
        SglangConfig.check(job(**hardware, **settings))


def test_valid_gpu_settings_pass_the_checks():
    SglangConfig.check(job(gpu_count=2, tp_size=2, kv_cache_dtype="fp8_e5m2", quantization="fp8", attention_backend="flashinfer"))
    SglangConfig.check(job(hardware="a100", fp8=False, quantization="awq", kv_cache_dtype="bf16"))


def test_sglang_on_cpu_exits_2_with_a_sentence(workdir):
    out = run_llem(["backend=sglang", "hardware=cpu", "model=tiny"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "backend=sglang runs only on CUDA devices, not on hardware=cpu" in out.stdout
    assert "Traceback" not in out.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("sglang") is not None, reason="sglang is installed here: the missing-engine message cannot show"
)
def test_missing_sglang_names_the_pip_line(workdir):
    out = run_llem(["backend=sglang", "hardware=h100", "model=tiny"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "pip install 'llem[sglang]'" in out.stdout and "Traceback" not in out.stdout


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA GPU on this machine: SGLang needs CUDA")
@pytest.mark.skipif(
    importlib.util.find_spec("sglang") is None,
    reason="SGLang is not installed (it has no CPU build; install llem[sglang] on a CUDA machine)",
)
def test_sglang_runs_for_real(workdir):
    out = run_llem(
        [
            "backend=sglang",
            "model=tiny",
            "hardware=cuda",
            "run.repeats=1",
            "workload.num_prompts=6",
            "workload.output_tokens=16",
            "backend.disable_radix_cache=true",
        ],
        workdir,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:]
    (result,) = results_under(workdir / "outputs")
    assert all(w["output_tokens"] == 6 * 16 for w in result["windows"])
    assert result["engine"]["effective_settings"]["disable_radix_cache"] is True
