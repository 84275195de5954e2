"""Comparing engines: every result stores its output ids' hashes; llem report compares the engines'
outputs and certifies each comparison (llem/results/comparison.py: prompt ids, output lengths, output
identity, energy scope, KV-cache budget, occupancy, prefix cache, thermal state, host load).

One pair of real runs, PyTorch and llama.cpp on the tiny model in one --multirun, and one `llem
report` over them serve every test here (module fixture)."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest

from conftest import run_llem
from llem.results.objective import best_result
from llem.report.build import build_report
from llem.report.identity import identity_groups, identity_lines
from llem.report.slo import choose, slo_lines
from llem.results.comparison import (
    DIFFERS,
    NOT_APPLICABLE,
    SAME,
    UNKNOWN,
    certificate_lines,
    certificates,
    certify,
    choice_comparison,
    choice_lines,
)
from llem.results.outputs import ids_sha256, outputs_record

COMMON = [
    "model=tiny",
    "hardware=cpu",
    "tracking=none",
    "workload.num_prompts=3",
    "workload.batch_size=3",
    "workload.output_tokens=6",
    "run.repeats=2",
    "run.warmup=0",
]
SMOLLM2 = {"name": "smollm2-135m", "source": "builtin", "id": "smollm2-135m", "weights": "pretrained"}  # real weights


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """{backend: result record} of one multirun over PyTorch and llama.cpp, the dir, and `llem report`'s output."""
    tmp = tmp_path_factory.mktemp("engines")
    proc = run_llem(["--multirun", "backend=pytorch,llamacpp", *COMMON], tmp)
    assert proc.returncode == 0, proc.stdout[-3000:]
    report = run_llem(["report", "outputs", "--no-plots"], tmp)
    assert report.returncode == 0, report.stdout[-3000:]
    records = [json.loads(p.read_text()) for p in sorted(tmp.glob("outputs/runs/*/result.json"))]
    return {r["identity"]["backend"]: r for r in records}, tmp, report.stdout


def _checks(cert: dict) -> dict:
    return {c["check"]: c for c in cert["checks"]}


def test_the_hash_is_of_little_endian_uint32_ids():
    import hashlib

    assert ids_sha256([1, 258]) == hashlib.sha256(bytes([1, 0, 0, 0, 2, 1, 0, 0])).hexdigest()
    rec = outputs_record(["a", "b"], [[[1, 2], [3]], [[1, 2], [4]]], greedy=True)
    assert rec["windows_identical"] is False and rec["requests"][1]["head"] == [3]
    assert outputs_record(["a"], [None, None], greedy=True)["requests"] is None


def test_pytorch_and_llamacpp_compute_the_same_tokens_for_tiny(engines):
    """The same random-weight checkpoint, prompts and greedy decoding in two engines: identical ids."""
    by_backend, _, _ = engines
    records = list(by_backend.values())
    assert set(by_backend) == {"pytorch", "llamacpp"}
    for r in records:
        out = r["outputs"]
        assert out["greedy"] and out["windows_identical"] is True and len(out["requests"]) == 3
        assert all(q["n"] == 6 and len(q["head"]) == 6 for q in out["requests"])
    [group] = identity_groups(records)
    assert group["reference_backend"] == "pytorch"
    # the engine that declares its outputs the reference (Engine.output_reference), wherever it stands in the group
    assert identity_groups(list(reversed(records)))[0]["reference_backend"] == "pytorch"
    [row] = group["rows"]
    assert row["backend"] == "llamacpp" and row["identical_share"] == 1.0 and row["first_divergence"] is None
    assert "100% of 3 requests identical" in "\n".join(identity_lines([group]))

    # one request changed from its third token, and an engine whose outputs differ from the first token
    drifted = copy.deepcopy(by_backend["llamacpp"])
    drifted["identity"]["run_id"] = "drifted"
    q = drifted["outputs"]["requests"][1]
    q["head"][2] += 1
    q["sha256"] = ids_sha256(q["head"])
    broken = copy.deepcopy(drifted)
    broken["identity"]["run_id"] = "broken"
    for q in broken["outputs"]["requests"]:
        q["head"] = [t + 1 for t in q["head"]]
        q["sha256"] = ids_sha256(q["head"])
    [group] = identity_groups(records + [drifted, broken])
    rows = {r["run_id"]: r for r in group["rows"]}
    assert rows["drifted"]["identical_share"] == 2 / 3 and rows["drifted"]["first_divergence"] == 2
    assert rows["broken"]["identical_share"] == 0 and rows["broken"]["diverges_everywhere"]
    # tiny's weights are random (built by llem, not trained): the flag names flat logits, not a misconfiguration
    assert len(group["flags"]) == 1 and group["flags"][0].startswith("broken: every request's output differs")
    assert "random weights" in group["flags"][0] and "misconfigured" not in group["flags"][0]
    trained = [copy.deepcopy(r) for r in records + [drifted, broken]]
    for r in trained:  # the same ids on a trained model's weights: a misconfiguration is named
        r["spec"]["model"].update(SMOLLM2)
    [group] = identity_groups(trained)
    assert "probably misconfigured" in group["flags"][0]


def test_certificate_of_two_real_engines(engines):
    """What the two real results say, checked against the records themselves."""
    by_backend, _, _ = engines
    pt, lc = by_backend["pytorch"], by_backend["llamacpp"]
    cert = certify(pt, lc)
    checks = _checks(cert)
    assert [c["check"] for c in cert["checks"]] == [
        "prompt_token_ids",
        "output_lengths",
        "output_identity",
        "energy_scope",
        "kv_cache_budget",
        "occupancy",
        "prefix_cache",
        "thermal",
        "host_load",
    ]
    digest = pt["requests"]["prompt_token_ids_sha256"]
    assert digest == lc["requests"]["prompt_token_ids_sha256"]
    assert checks["prompt_token_ids"]["verdict"] == SAME and checks["prompt_token_ids"]["a"].startswith(digest[:12])
    assert checks["output_lengths"] == {**checks["output_lengths"], "verdict": SAME, "a": "3 x 6 tokens", "b": "3 x 6 tokens"}
    assert checks["output_identity"]["verdict"] == SAME and checks["output_identity"]["a"] == "3 of 3 requests identical"
    # each engine's folder recorded its budget: transformers' cache per call (float32 on CPU), llama.cpp's context (f16)
    kv_pt, kv_lc = pt["engine"]["kv_cache_budget"], lc["engine"]["kv_cache_budget"]
    assert kv_pt["allocation"] == "per_call" and kv_pt["dtype"] == "float32" and kv_pt["tokens"] is None
    eff = lc["engine"]["effective_settings"]
    assert kv_lc == {
        **kv_lc,
        "allocation": "pool",
        "tokens": eff["n_ctx"],
        "per_sequence_tokens": eff["n_ctx_seq"],
        "sequences": eff["n_seq_max"],
        "dtype": "float16",
    }
    cfg = json.loads((Path(pt["engine"]["model"]["tokenizer"]) / "config.json").read_text())  # the tiny model's folder
    per_layer = cfg["num_key_value_heads"] * (cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])
    assert kv_pt["bytes_per_token"] == 2 * cfg["num_hidden_layers"] * per_layer * 4  # K and V, float32
    assert kv_lc["bytes_per_token"] == 2 * cfg["num_hidden_layers"] * per_layer * 2  # the same shape in f16
    assert checks["kv_cache_budget"]["verdict"] == DIFFERS and "different dtypes" in checks["kv_cache_budget"]["reason"]
    assert checks["kv_cache_budget"]["a"] == "sized per engine call, float32"
    assert checks["kv_cache_budget"]["b"] == f"pool of {eff['n_ctx']} tokens (3 x {eff['n_ctx_seq']}), float16"
    assert checks["occupancy"]["verdict"] == SAME and "batch of 3 (requests per engine call: 3)" in checks["occupancy"]["b"]
    assert checks["prefix_cache"]["verdict"] == NOT_APPLICABLE  # neither engine reports a hit rate offline
    assert checks["thermal"]["verdict"] == UNKNOWN and "no GPU sampler readings" in checks["thermal"]["reason"]
    measured = [r["metrics"]["energy_scope"] for r in (pt, lc)]
    assert checks["energy_scope"]["verdict"] == (
        NOT_APPLICABLE if measured == [None, None] else SAME if measured[0] == measured[1] else DIFFERS
    )
    # host load as the windows recorded it on this (shared) machine
    busy = [
        any(
            w["host"]["other_cores"] > max(1.0, 0.1 * w["host"]["host_cpus"])
            or w["host"]["steal_cores"] > max(1.0, 0.1 * w["host"]["host_cpus"])
            for w in r["windows"]
        )
        for r in (pt, lc)
    ]
    assert checks["host_load"]["verdict"] == {(False, False): SAME, (True, True): UNKNOWN}.get(tuple(busy), DIFFERS)
    # the pair: not like for like, the KV cache named
    assert cert["like_for_like"] == "no" and "KV-cache budget" in cert["differs"]
    assert set(cert["differs"]) <= {"KV-cache budget", "host load", "energy scope"}
    lines = "\n".join(certificate_lines([cert]))
    assert (
        f"comparison {lc['identity']['run_id']} (llamacpp) vs {pt['identity']['run_id']} (pytorch, the reference): like for like: no"
        in lines
    )
    assert "DIFFERS KV-cache budget: pool of" in lines and "vs sized per engine call, float32" in lines
    assert "same: prompt token ids, output lengths, output identity, batch occupancy / concurrency" in lines


def test_what_differs_is_told_apart_from_what_was_configured(engines):
    """Variants of the real records: a tokenizer that disagrees, a configured batch size, random vs trained
    weights for diverging outputs, energy of different scope, a throttled GPU."""
    by_backend, _, _ = engines
    pt, lc = by_backend["pytorch"], by_backend["llamacpp"]

    other_ids = copy.deepcopy(lc)
    other_ids["requests"]["prompt_token_ids_sha256"] = "0" * 64
    c = _checks(certify(pt, other_ids))
    assert c["prompt_token_ids"]["verdict"] == DIFFERS and not c["prompt_token_ids"]["configured"]
    assert "tokenizers" in c["prompt_token_ids"]["reason"]
    assert c["output_identity"]["verdict"] == NOT_APPLICABLE  # different prompts: identity is not defined

    bigger = copy.deepcopy(pt)
    bigger["spec"]["workload"]["batch_size"] = 6
    bigger["engine"]["effective_settings"]["batch_size"] = 6
    cert = certify(pt, bigger)
    assert _checks(cert)["occupancy"]["configured"] == ["workload.batch_size 3 vs 6"]
    assert "batch occupancy / concurrency" in cert["configured"] and "batch occupancy / concurrency" not in cert["differs"]
    assert cert["like_for_like"] == "unverified" and cert["differs"] == []  # the same windows: only thermal unknown
    engine_side = copy.deepcopy(pt)  # the same workload, but the engine ran fewer sequences at once
    engine_side["engine"]["effective_settings"]["batch_size"] = 2
    cert = certify(pt, engine_side)
    assert "batch occupancy / concurrency" in cert["differs"] and cert["like_for_like"] == "no"

    drifted = copy.deepcopy(lc)
    q = drifted["outputs"]["requests"][0]
    q["head"][3] += 1
    q["sha256"] = ids_sha256(q["head"])
    random = _checks(certify(pt, drifted))["output_identity"]
    assert random["verdict"] == NOT_APPLICABLE and random["a"] == "2 of 3 requests identical, first divergence at token 3"
    assert "uninformative: random weights" in random["reason"] and "flat logits" in random["reason"]
    trained_pt, trained_lc = copy.deepcopy(pt), copy.deepcopy(drifted)
    for r in (trained_pt, trained_lc):
        r["spec"]["model"].update(SMOLLM2)
    trained = certify(trained_pt, trained_lc)
    assert _checks(trained)["output_identity"]["verdict"] == DIFFERS and "output identity" in trained["differs"]

    gpu, gpu_rapl = copy.deepcopy(pt), copy.deepcopy(lc)
    gpu["metrics"].update(energy_j=10.0, energy_j_per_output_token=0.5, energy_scope="gpu")
    gpu_rapl["metrics"].update(energy_j=12.0, energy_j_per_output_token=0.6, energy_scope="gpu+cpu+dram")
    scope = _checks(certify(gpu, gpu_rapl))["energy_scope"]
    assert scope["verdict"] == DIFFERS and (scope["a"], scope["b"]) == ("gpu (measured)", "gpu+cpu+dram (measured)")
    assert _checks(certify(gpu, lc))["energy_scope"]["b"] == "not measured"

    cool, hot = copy.deepcopy(pt), copy.deepcopy(lc)
    for rec, throttled, temp in ((cool, {}, 40.0), (hot, {"sw_power_cap": 1.5}, 41.0)):
        for w in rec["windows"]:
            w["conditions"] = {"samples": 20, "throttled_s": throttled, "throttle_unknown_s": 0.0, "temperature_c_start": temp}
    thermal = _checks(certify(cool, hot))["thermal"]
    assert thermal["verdict"] == DIFFERS and thermal["b"].startswith("throttled: sw_power_cap 3.0 s")
    hot["spec"]["hardware"]["power_limit_w"] = 300  # a power-limit sweep throttles because it was asked to
    assert _checks(certify(cool, hot))["thermal"]["configured"] == ["hardware.power_limit_w None vs 300"]


def test_llem_report_prints_the_certificate_in_every_output(engines, capsys):
    by_backend, tmp, stdout = engines
    pt, lc = by_backend["pytorch"], by_backend["llamacpp"]
    text = " ".join(stdout.split())
    # the piped terminal table (markdown): a "Like for like" column, then the certificate per pair
    assert "| Like for like |" in stdout and "| reference |" in stdout
    assert "no: KV-cache budget" in text and f"(vs {lc['identity']['config_hash'][:8]})" in text
    assert "## Comparison certificate" in stdout
    assert (
        f"**{pt['identity']['run_id']}** (pytorch) vs **{lc['identity']['run_id']}** (llamacpp, the reference): like for like: **no - differs: KV-cache budget"
        in text
    )
    assert "| KV-cache budget | differs | sized per engine call, float32 | pool of" in stdout
    assert "| output identity | same | 3 of 3 requests identical | 3 of 3 requests identical |" in stdout
    assert "output identity against pytorch_tiny" in text and "(llamacpp): 100% of 3 requests identical" in text
    out = tmp / "outputs" / "report"
    [cert] = json.loads((out / "certificate.json").read_text())
    assert (cert["a"], cert["b"], cert["like_for_like"]) == (lc["identity"]["run_id"], pt["identity"]["run_id"], "no")
    rows = list(csv.DictReader(open(out / "certificate.csv", encoding="utf-8")))
    assert len(rows) == 9 and {r["check"]: r["verdict"] for r in rows}["KV-cache budget"] == "differs"
    runs = {r["backend"]: r for r in csv.DictReader(open(out / "report.csv", encoding="utf-8"))}
    assert runs["llamacpp"]["like_for_like"] == "reference" and runs["pytorch"]["like_for_like"].startswith("no: KV-cache budget")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<h2>Comparison certificate</h2>" in page and 'class="l4l-no"' in page and "KV-cache budget" in page
    # a paper table (LaTeX) names the pair that is not like for like in its notes
    build_report(str(tmp / "outputs"), tmp / "latex", plots=False, fmt="latex", html=False)
    latex = capsys.readouterr().out
    assert f"Not like for like: {pt['identity']['run_id']}".replace("_", r"\_") in latex


def test_the_energy_choice_says_when_its_comparison_is_not_like_for_like(engines):
    """--slo-latency-s and an optimising sweeper's best trial: the winner against the runs it beat."""
    by_backend, _, _ = engines
    pt, lc = by_backend["pytorch"], by_backend["llamacpp"]
    records = {r["identity"]["run_id"]: r for r in (pt, lc)}
    # J/token as a GPU would have measured it (this CPU measures none); the records are the real ones
    rows = [
        {"run_id": pt["identity"]["run_id"], "status": "ok", "energy_j_per_output_token": 0.2, "batch_latency_p90_s": 1.0},
        {"run_id": lc["identity"]["run_id"], "status": "ok", "energy_j_per_output_token": 0.3, "batch_latency_p90_s": 0.5},
    ]
    choice = choose(rows, latency_s=2.0, records=records)
    assert choice["best"]["run_id"] == pt["identity"]["run_id"] and choice["comparison"]["against"] == 1
    text = "\n".join(slo_lines(choice))
    assert (
        f"the choice ({pt['identity']['run_id']}): NOT like for like against 1 of the 1 run it was chosen over: "
        f"differs in KV-cache budget (1 of 1)" in text
    )
    # the same records, one KV cache made alike: like for like as far as recorded (CPU: no thermal readings)
    alike = copy.deepcopy(lc)
    alike["engine"]["kv_cache_budget"] = pt["engine"]["kv_cache_budget"]
    verdict = choice_lines(choice_comparison(pt, [alike]), "winner")[0]
    if "host load" not in certify(pt, alike)["differs"]:
        assert verdict.startswith("winner: like for like as far as recorded against the 1 run it was chosen over")
        assert "thermal / throttle state (1 of 1)" in verdict
    # an optimiser minimising run.objective (throughput, negated) names the faster run best
    faster = max((pt, lc), key=lambda r: r["metrics"]["output_tokens_per_s"])
    assert best_result([pt, lc], "energy_j_per_output_token|output_tokens_per_s", None) is faster
    assert best_result([pt, lc], "energy_j_per_output_token,batch_latency_p90_s", None) is None  # a Pareto front
    assert len(certificates([pt, lc, copy.deepcopy(pt)])) == 2  # each member against the group's first
