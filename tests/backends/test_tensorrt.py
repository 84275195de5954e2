"""TensorRT-LLM backend: the mapping to the LLM API's arguments, the engine-cache key, the
pre-launch checks, and a real-engine run where TensorRT-LLM and a CUDA GPU exist (skipped here)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from conftest import llem_env, results_under, run_llem

from llem.backends.tensorrt import mapping
from llem.backends.tensorrt.config import TensorRTConfig
from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, SamplingSpec, WorkloadSpec
from llem.errors import UserError

# Field names from NVIDIA/TensorRT-LLM (tensorrt_llm/llmapi/llm_args.py at commit
# 0004396720054fd8e205cbf616f21f0b57c6b412; BuildConfig fields as in the trtllm-build flags and
# examples/llm-api/_tensorrt_engine/llm_inference_customize.py).
BUILD_CONFIG_FIELDS = {
    "max_batch_size",
    "max_input_len",
    "max_seq_len",
    "max_beam_width",
    "max_num_tokens",
    "opt_num_tokens",
    "max_prompt_embedding_table_size",
    "kv_cache_type",
    "gather_context_logits",
    "strongly_typed",
    "profiling_verbosity",
    "enable_debug_output",
    "max_draft_len",
    "plugin_config",
}
KV_CACHE_CONFIG_FIELDS = {
    "enable_block_reuse",
    "max_tokens",
    "max_attention_window",
    "sink_token_length",
    "free_gpu_memory_fraction",
    "host_cache_size",
    "onboard_blocks",
    "enable_partial_reuse",
    "copy_on_partial_reuse",
    "dtype",
    "tokens_per_block",
}
LLM_ARGS_FIELDS = {  # BaseLlmArgs (+ TrtLlmArgs: build_config, quant_config, calib_config, enable_build_cache)
    "model",
    "tokenizer",
    "tokenizer_mode",
    "skip_tokenizer_init",
    "trust_remote_code",
    "tensor_parallel_size",
    "dtype",
    "revision",
    "tokenizer_revision",
    "pipeline_parallel_size",
    "context_parallel_size",
    "load_format",
    "kv_cache_config",
    "enable_chunked_prefill",
    "max_batch_size",
    "max_input_len",
    "max_seq_len",
    "max_beam_width",
    "max_num_tokens",
    "build_config",
    "quant_config",
    "calib_config",
    "enable_build_cache",
}
# tensorrt_llm/quantization/mode.py QuantAlgo members (same tree).
QUANT_ALGO_MEMBERS = {
    "W8A16",
    "W4A16",
    "W4A16_AWQ",
    "W4A8_AWQ",
    "W8A16_GPTQ",
    "W4A16_GPTQ",
    "W8A8_SQ_PER_CHANNEL",
    "FP8",
    "FP8_PER_CHANNEL_PER_TOKEN",
    "FP8_BLOCK_SCALES",
    "INT8",
    "NVFP4",
    "NO_QUANT",
}
# tensorrt_llm/sampling_params.py SamplingParams fields (same tree).
SAMPLING_PARAMS_FIELDS = {
    "end_id",
    "pad_id",
    "max_tokens",
    "min_tokens",
    "ignore_eos",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "n",
    "use_beam_search",
    "detokenize",
}


def job(
    hardware: str = "h100",
    gpu_count: int = 1,
    fp8=True,
    model_id: str = "tiny",
    batch_size: int = 4,
    num_prompts: int = 8,
    temperature: float = 0.0,
    **backend,
) -> JobSpec:
    backend.setdefault("runtime", "trt")  # these tests were written for the engine-building runtime; pytorch is asked for by name
    return JobSpec(
        backend=TensorRTConfig(**backend).model_dump(mode="json"),
        model=ModelSpec(name=model_id, source="hub", id=model_id),
        hardware=HardwareSpec(name=hardware, device="cpu" if hardware == "cpu" else "cuda", gpu_count=gpu_count, fp8=fp8),
        energy=EnergySpec(meter="none"),
        workload=WorkloadSpec(
            name="t",
            num_prompts=num_prompts,
            input_tokens=100,
            output_tokens=20,
            batch_size=batch_size,
            sampling=SamplingSpec(temperature=temperature),
        ),
    )


def test_build_settings_follow_the_workload_unless_set():
    assert mapping.build_settings(job()) == {"max_batch_size": 4, "max_input_len": 100, "max_seq_len": 120}
    build = mapping.build_settings(
        job(max_batch_size=64, max_input_len=512, max_seq_len=1024, max_num_tokens=8192, build_kwargs={"opt_num_tokens": 2048})
    )
    assert build == {
        "max_batch_size": 64,
        "max_input_len": 512,
        "max_seq_len": 1024,
        "max_num_tokens": 8192,
        "opt_num_tokens": 2048,
    }
    assert set(build) <= BUILD_CONFIG_FIELDS


def test_kv_cache_and_quant_settings_use_tensorrt_llm_names():
    assert mapping.kv_cache_settings(job()) == {}  # TensorRT-LLM's defaults apply
    kv = mapping.kv_cache_settings(job(free_gpu_memory_fraction=0.85, enable_block_reuse=False))
    assert kv == {"free_gpu_memory_fraction": 0.85, "enable_block_reuse": False} and set(kv) <= KV_CACHE_CONFIG_FIELDS
    assert mapping.quant_settings(job()) is None
    for alias, member in [("fp8", "FP8"), ("int8_weight_only", "W8A16"), ("w4a16_awq", "W4A16_AWQ"), ("W4A8_AWQ", "W4A8_AWQ")]:
        q = mapping.quant_settings(job(quantization=alias, kv_cache_quantization="INT8"))
        assert q == {"quant_algo": member, "kv_cache_quant_algo": "INT8"}
        assert set(q.values()) <= QUANT_ALGO_MEMBERS
    pytorch_kv = mapping.kv_cache_settings(job(runtime="pytorch", kv_cache_quantization="FP8"))
    assert pytorch_kv == {"dtype": "fp8"}  # the PyTorch runtime takes the KV-cache dtype in KvCacheConfig
    assert mapping.quant_settings(job(runtime="pytorch", kv_cache_quantization="FP8")) is None


def test_llm_kwargs_are_llm_api_arguments_for_both_runtimes():
    trt = mapping.llm_kwargs(job(gpu_count=2, tensor_parallel_size=2, enable_chunked_prefill=True, dtype="bfloat16"), "/m", "/t")
    assert set(trt) <= LLM_ARGS_FIELDS
    assert trt["tensor_parallel_size"] == 2 and trt["dtype"] == "bfloat16" and trt["enable_chunked_prefill"] is True
    assert "max_batch_size" not in trt  # runtime=trt: the limits go into BuildConfig
    torch_rt = mapping.llm_kwargs(job(runtime="pytorch"), "/m", None, load_format="dummy")
    assert set(torch_rt) <= LLM_ARGS_FIELDS
    assert torch_rt["max_batch_size"] == 4 and torch_rt["max_seq_len"] == 120 and torch_rt["load_format"] == "dummy"
    assert mapping.llm_kwargs(job(engine_kwargs={"max_beam_width": 1}), "/m", None)["max_beam_width"] == 1


def test_sampling_fixes_the_output_length():
    greedy = mapping.sampling_kwargs(job())
    assert greedy == {"max_tokens": 20, "min_tokens": 20, "ignore_eos": True, "top_k": 1}
    sampled = mapping.sampling_kwargs(job(temperature=0.8))
    assert set(sampled) <= SAMPLING_PARAMS_FIELDS and sampled["temperature"] == 0.8 and "top_k" not in sampled


def test_engine_cache_key_tracks_exactly_the_build_settings():
    base = mapping.engine_cache_key(job(), "1.2.0")
    assert base == mapping.engine_cache_key(job(), "1.2.0")
    # runtime-only settings and workload size do not change the engine
    assert base == mapping.engine_cache_key(job(free_gpu_memory_fraction=0.5, enable_block_reuse=False, num_prompts=64), "1.2.0")
    assert base == mapping.engine_cache_key(job(batching="static"), "1.2.0")
    changed = [
        mapping.engine_cache_key(job(), "1.3.0"),
        mapping.engine_cache_key(job(batch_size=8), "1.2.0"),
        mapping.engine_cache_key(job(max_num_tokens=4096), "1.2.0"),
        mapping.engine_cache_key(job(quantization="fp8"), "1.2.0"),
        mapping.engine_cache_key(job(kv_cache_quantization="INT8"), "1.2.0"),
        mapping.engine_cache_key(job(dtype="float16"), "1.2.0"),
        mapping.engine_cache_key(job(gpu_count=2, tensor_parallel_size=2), "1.2.0"),
        mapping.engine_cache_key(job(model_id="other"), "1.2.0"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


@pytest.mark.parametrize(
    "settings, hardware, message",
    [
        (
            {"tensor_parallel_size": 4},
            {"gpu_count": 2},
            r"tensor_parallel_size=4 x backend.pipeline_parallel_size=1 needs 4 GPUs but hardware.gpu_count=2",
        ),
        (
            {"quantization": "fp8"},
            {"hardware": "a100", "fp8": False},
            r"backend.quantization=FP8 needs FP8 support, which hardware=a100 does not have",
        ),
        ({"kv_cache_quantization": "FP8"}, {"hardware": "a100", "fp8": False}, r"kv_cache_quantization=FP8 needs FP8 support"),
        ({"quantization": "int2"}, {}, r"backend.quantization=int2 is not valid.*choose one of .*W4A16_AWQ"),
        ({"runtime": "pytorch", "quantization": "fp8"}, {}, r"runtime=pytorch|PyTorch runtime takes pre-quantised checkpoints"),
        ({"max_seq_len": 64}, {}, r"max_seq_len=64 is below .* = 120"),
        ({"max_input_len": 50}, {}, r"max_input_len=50 is below workload.input_tokens=100"),
        (
            {"build_kwargs": {"max_batch_size": 8}},
            {},
            r"build_kwargs.max_batch_size duplicates the setting backend.max_batch_size",
        ),
        ({"runtime": "pytorch", "build_kwargs": {"opt_num_tokens": 8}}, {}, r"build_kwargs applies only to backend.runtime=trt"),
        ({"engine_kwargs": {"build_config": {}}}, {}, r"engine_kwargs.build_config is set by llem"),
    ],
)
def test_bad_settings_fail_before_launch_with_one_sentence(settings, hardware, message):
    with pytest.raises(UserError, match=message):
        TensorRTConfig.check(job(**hardware, **settings))


def test_valid_gpu_settings_pass_the_checks():
    TensorRTConfig.check(job(quantization="W4A16_AWQ", kv_cache_quantization="INT8", hardware="a100", fp8=False))
    TensorRTConfig.check(job(gpu_count=4, tensor_parallel_size=2, pipeline_parallel_size=2, quantization="fp8"))


def test_tensorrt_on_cpu_exits_2_with_a_sentence(workdir):
    out = run_llem(["backend=tensorrt", "hardware=cpu", "model=tiny"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "backend=tensorrt runs only on CUDA devices, not on hardware=cpu" in out.stdout
    assert "Traceback" not in out.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_llm") is not None,
    reason="tensorrt_llm is installed here: the missing-engine message cannot show",
)
def test_missing_tensorrt_llm_names_the_pip_line(workdir):
    out = run_llem(["backend=tensorrt", "hardware=h100", "model=tiny"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "pip install 'llem[tensorrt]'" in out.stdout and "Traceback" not in out.stdout


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA GPU on this machine: TensorRT-LLM needs CUDA")
@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_llm") is None,
    reason="TensorRT-LLM is not installed (no CPU build; install llem[tensorrt] on a CUDA machine)",
)
def test_tensorrt_builds_caches_and_runs_for_real(workdir, tmp_path):
    env = llem_env(LLEM_CACHE_DIR=tmp_path / "cache")
    args = [
        "backend=tensorrt",
        "model=tiny",
        "hardware=cuda",
        "run.repeats=1",
        "workload.num_prompts=6",
        "workload.output_tokens=16",
    ]
    first = run_llem(args, workdir, timeout=1800, env=env)
    assert first.returncode == 0, first.stdout[-4000:]
    second = run_llem(args + ["run.force=true"], workdir, timeout=1800, env=env)
    assert second.returncode == 0, second.stdout[-4000:]
    results = results_under(workdir / "outputs")
    assert all(w["output_tokens"] == 6 * 16 for r in results for w in r["windows"])
    assert results[-1]["engine"]["effective_settings"]["engine_cache_hit"] is True


def test_pytorch_is_the_default_runtime_and_trtllm_serve_gets_its_backend():
    from llem.backends.tensorrt.server import server_plan

    assert TensorRTConfig().runtime == "pytorch"  # TensorRT-LLM's own default since 1.0 (LlmArgs = TorchLlmArgs)
    spec = job(runtime="pytorch")
    argv = server_plan(spec, "cuda", 8001).argv
    assert argv[argv.index("--backend") + 1] == "pytorch"
    assert mapping.quant_settings(spec) is None and "max_batch_size" in mapping.llm_kwargs(spec, "/m", None)


def test_engine_cache_key_covers_the_llm_arguments_that_shape_an_engine():
    base = mapping.engine_cache_key(job(), "1.2.1")
    changed = [
        mapping.engine_cache_key(job(enable_chunked_prefill=True), "1.2.1"),  # needs paged context attention built in
        mapping.engine_cache_key(job(engine_kwargs={"max_beam_width": 4}), "1.2.1"),
        mapping.engine_cache_key(job(build_kwargs={"opt_num_tokens": 2048}), "1.2.1"),
        mapping.engine_cache_key(job(), "1.2.1", load_format="dummy"),  # random weights are not the checkpoint's
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def _fake_tensorrt_llm(root, with_engine_runtime: bool):
    pkg = root / "tensorrt_llm"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('validation must not import TensorRT-LLM')\n")
    if with_engine_runtime:
        (pkg / "_tensorrt_engine").mkdir()
        (pkg / "_tensorrt_engine" / "__init__.py").write_text("")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_llm") is not None, reason="a real tensorrt_llm is installed here")
@pytest.mark.parametrize("with_engine_runtime", [True, False])
def test_runtime_trt_only_where_the_installed_release_has_it(tmp_path, monkeypatch, with_engine_runtime):
    _fake_tensorrt_llm(tmp_path, with_engine_runtime)
    monkeypatch.syspath_prepend(str(tmp_path))
    TensorRTConfig.check(job(runtime="pytorch"))
    if with_engine_runtime:
        TensorRTConfig.check(job(runtime="trt"))
    else:
        with pytest.raises(
            UserError, match=r"backend.runtime=trt needs TensorRT-LLM's TensorRT-engine runtime .* use backend.runtime=pytorch"
        ):
            TensorRTConfig.check(job(runtime="trt"))
