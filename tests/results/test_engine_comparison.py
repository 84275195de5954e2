"""Output identity: every result stores its output ids' hashes; llem report compares engines."""

from __future__ import annotations

import copy
import json

from conftest import run_llem
from llem.report.identity import identity_groups, identity_lines
from llem.results.outputs import ids_sha256, outputs_record

COMMON = ["model=tiny", "hardware=cpu", "tracking=none", "workload.num_prompts=3", "workload.batch_size=3",
          "workload.output_tokens=6", "run.repeats=2", "run.warmup=0"]


def test_the_hash_is_of_little_endian_uint32_ids():
    import hashlib

    assert ids_sha256([1, 258]) == hashlib.sha256(bytes([1, 0, 0, 0, 2, 1, 0, 0])).hexdigest()
    rec = outputs_record(["a", "b"], [[[1, 2], [3]], [[1, 2], [4]]], greedy=True)
    assert rec["windows_identical"] is False and rec["requests"][1]["head"] == [3]
    assert outputs_record(["a"], [None, None], greedy=True)["requests"] is None


def test_pytorch_and_llamacpp_compute_the_same_tokens_for_tiny(tmp_path):
    """The same random-weight checkpoint, prompts and greedy decoding in two engines: identical ids."""
    for backend in ("pytorch", "llamacpp"):
        proc = run_llem([f"backend={backend}", *COMMON], tmp_path)
        assert proc.returncode == 0, proc.stdout
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("outputs/runs/*/result.json"))]
    assert {r["identity"]["backend"] for r in records} == {"pytorch", "llamacpp"}
    for r in records:
        out = r["outputs"]
        assert out["greedy"] and out["windows_identical"] is True and len(out["requests"]) == 3
        assert all(q["n"] == 6 and len(q["head"]) == 6 for q in out["requests"])
    [group] = identity_groups(records)
    assert group["reference_backend"] == "pytorch"
    [row] = group["rows"]
    assert row["backend"] == "llamacpp" and row["identical_share"] == 1.0 and row["first_divergence"] is None
    assert "100% of 3 requests identical" in "\n".join(identity_lines([group]))

    # one request changed from its third token, and an engine whose outputs differ from the first token
    drifted = copy.deepcopy(records[0] if records[0]["identity"]["backend"] == "llamacpp" else records[1])
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
    assert len(group["flags"]) == 1 and group["flags"][0].startswith("broken: every request's output differs")
    assert "probably misconfigured" in group["flags"][0]
    for r in records + [drifted, broken]:  # the same on a hub architecture's random weights: another cause named
        r["spec"]["model"]["weights"] = "random"
    [group] = identity_groups(records + [drifted, broken])
    assert "model.weights=random" in group["flags"][0] and "misconfigured" not in group["flags"][0]


def test_llem_report_shows_the_identity_of_two_engines(tmp_path):
    for backend in ("pytorch", "llamacpp"):
        assert run_llem([f"backend={backend}", *COMMON, "run.repeats=1"], tmp_path).returncode == 0
    proc = run_llem(["report", "outputs", "--no-plots"], tmp_path)
    assert proc.returncode == 0, proc.stdout
    text = " ".join(proc.stdout.split())
    assert "output identity against pytorch_tiny" in text and "(llamacpp): 100% of 3 requests identical" in text
