"""workload.prefix_share: the synthesis (exact counts, share, group shape, determinism), its
validation (one sentence, exit code 2), its place in the config hash, and the hit-rate record."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from llem.cli import prevalidate
from llem.errors import UserError
from llem.workload.prefix import group_sizes, ideal_hit_rate, prefix_prompts, shared_tokens
from llem.workload.prompts import build_requests

ALLOWED = list(range(3, 5003))  # a vocabulary without its special ids
BASE = ["model=tiny", "hardware=cpu", "tracking=none"]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@pytest.mark.parametrize(
    "n,length,share,group", [(16, 128, 0.5, 4), (10, 100, 0.9, 4), (7, 33, 0.3, 3), (8, 64, 0.95, 8), (5, 20, 0.05, 2)]
)
def test_exact_lengths_shares_and_groups(n, length, share, group):
    prompts = prefix_prompts(n, length, share, group, ALLOWED, seed=1)
    shared = shared_tokens(length, share)
    assert shared == int(share * length + 1e-9) and 0 < shared < length
    assert len(prompts) == n and all(len(p) == length for p in prompts)
    assert all(x in set(ALLOWED) for p in prompts for x in p)
    for i in range(n):
        for j in range(i + 1, n):
            same_group = i // group == j // group
            # members of a group share exactly the prefix, never a token more; other groups not even the first
            assert _common_prefix(prompts[i], prompts[j]) == (shared if same_group else 0), (i, j)


def test_group_shape_and_the_ideal_hit_rate():
    assert group_sizes(10, 4) == [4, 4, 2]
    assert group_sizes(8, 8) == [8]
    # 16 prompts of 128 tokens, 64 shared, groups of 4: 12 of 16 prompts can find 64 tokens cached
    assert ideal_hit_rate(16, 128, 0.5, 4) == pytest.approx(64 * 12 / (16 * 128))
    assert ideal_hit_rate(10, 100, 0.9, 4) == pytest.approx(90 * 7 / 1000)
    assert ideal_hit_rate(4, 128, 0.0, 4) == 0.0


def test_seeded_and_deterministic():
    a = prefix_prompts(12, 40, 0.5, 3, ALLOWED, seed=7)
    assert a == prefix_prompts(12, 40, 0.5, 3, ALLOWED, seed=7)
    assert a != prefix_prompts(12, 40, 0.5, 3, ALLOWED, seed=8)


def _workload(**kw):
    base = dict(source="synthetic", num_prompts=6, input_tokens=32, prefix_share=0.0, prefix_group_size=3, seed=0)
    return SimpleNamespace(**{**base, **kw})


def test_build_requests_share_zero_keeps_the_earlier_prompts():
    """share 0 is the generator every earlier synthetic run used: same ids, same hash."""
    import random

    w = _workload()
    rng = random.Random(0)
    allowed = [i for i in range(100) if i not in {0, 1}]
    earlier = [[rng.choice(allowed) for _ in range(32)] for _ in range(6)]
    assert [r.input_ids for r in build_requests(w, None, 100, [0, 1])] == earlier


def test_build_requests_with_a_shared_prefix():
    reqs = build_requests(_workload(prefix_share=0.5), None, 1000, [0, 1, 2])
    assert [len(r.input_ids) for r in reqs] == [32] * 6
    assert reqs[0].input_ids[:16] == reqs[2].input_ids[:16] != reqs[3].input_ids[:16]
    assert not {0, 1, 2} & {x for r in reqs for x in r.input_ids}


def test_more_groups_than_first_ids_is_one_sentence():
    with pytest.raises(UserError, match=r"workload.prefix_group_size=2 .* give a larger"):
        build_requests(_workload(prefix_share=0.5, num_prompts=20, prefix_group_size=2), None, 8, [])


@pytest.mark.parametrize(
    "bad,mention",
    [
        (["workload=synthetic", "workload.prefix_share=0.96"], "workload.prefix_share"),
        (["workload=synthetic", "workload.prefix_share=-0.1"], "workload.prefix_share"),
        (["workload.prefix_share=0.5"], "workload.source=synthetic"),
        (["workload=synthetic", "workload.prefix_share=0.5", "workload.prefix_group_size=1"], "prefix_group_size"),
        (["workload=synthetic", "workload.prefix_group_size=0"], "workload.prefix_group_size"),
        (["workload=synthetic", "workload.input_tokens=1", "workload.prefix_share=0.5"], "shares no whole token"),
    ],
)
def test_bad_values_are_refused_in_one_sentence(bad, mention):
    with pytest.raises(UserError) as exc:
        prevalidate(BASE + bad)
    message = str(exc.value)
    assert mention in message and "\n" not in message and message.endswith("."), message


def test_cli_exit_code_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llem",
            *BASE,
            "workload=synthetic",
            "workload.prefix_share=0.99",
            f"run.output_root={tmp_path / 'out'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "workload.prefix_share" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def _spec(*overrides: str):
    from hydra import compose, initialize_config_module

    from llem.cli.app import plain_config
    from llem.config.spec import build_spec

    with initialize_config_module(config_module="llem.conf", version_base=None):
        cfg = compose(config_name="config", overrides=[*BASE, "workload=synthetic", *overrides])
    return build_spec(plain_config(cfg))


def test_config_hash_unchanged_without_a_shared_prefix():
    """Runs measured before prefix_share existed keep their hash: without a share, neither key is in the identity."""
    plain = _spec()
    assert "prefix_share" not in plain.identity()["workload"] and "prefix_group_size" not in plain.identity()["workload"]
    assert _spec("workload.prefix_group_size=4").config_hash() == plain.config_hash()  # meaningless without a share
    shared = _spec("workload.prefix_share=0.5")
    assert shared.identity()["workload"]["prefix_share"] == 0.5 and shared.config_hash() != plain.config_hash()
    assert _spec("workload.prefix_share=0.5", "workload.prefix_group_size=4").config_hash() != shared.config_hash()
