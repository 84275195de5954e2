"""environment.json's engine_env: the set variables that change what an engine runs, secrets without values."""

from __future__ import annotations

import pytest

from llem.run.envinfo import engine_env, snapshot

pytestmark = pytest.mark.quick


def test_engine_env_keeps_each_engines_and_its_stacks_variables_and_hides_secret_values():
    environ = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_API_KEY": "sk-abc",
        "SGLANG_DISABLE_USAGE_STATS": "1",
        "SGL_ENABLE_JIT_DEEPGEMM": "0",
        "GGML_CUDA_FORCE_MMQ": "1",
        "TRTLLM_NO_USAGE_STATS": "1",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "CUDA_VISIBLE_DEVICES": "1,0",
        "NCCL_NVLS_ENABLE": "0",
        "OMP_NUM_THREADS": "4",
        "HF_TOKEN": "hf_secret",
        "PATH": "/usr/bin",
        "HOME": "/root",
        "MY_VLLM_THING": "x",  # a prefix must lead the name
    }
    env = engine_env(environ)
    assert env == {
        "CUDA_VISIBLE_DEVICES": "1,0",
        "GGML_CUDA_FORCE_MMQ": "1",
        "HF_TOKEN": "(redacted)",
        "NCCL_NVLS_ENABLE": "0",
        "OMP_NUM_THREADS": "4",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "SGLANG_DISABLE_USAGE_STATS": "1",
        "SGL_ENABLE_JIT_DEEPGEMM": "0",
        "TRTLLM_NO_USAGE_STATS": "1",
        "VLLM_API_KEY": "(redacted)",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    }
    assert "sk-abc" not in str(env) and "hf_secret" not in str(env)


def test_the_snapshot_records_this_processs_engine_variables(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    monkeypatch.delenv("SGLANG_ANYTHING", raising=False)
    env = snapshot(gpus=[])["engine_env"]
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3" and "SGLANG_ANYTHING" not in env
