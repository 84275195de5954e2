"""Bad input, tested broadly (hypothesis): random override values, random choices, random keys and
random workload files. Every input is either accepted or refused with one clear sentence (a
UserError, exit code 2 from the CLI); nothing else may escape, and a refused command writes nothing."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llem.cli import prevalidate
from llem.errors import UserError

BASE = ["model=tiny", "hardware=cpu", "tracking=none"]
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Integer settings and the smallest valid value of each.
INT_FIELDS = {
    "workload.num_prompts": 1,
    "workload.input_tokens": 1,
    "workload.output_tokens": 1,
    "workload.batch_size": 1,
    "run.repeats": 1,
    "run.warmup": 0,
    "workload.sampling.top_k": 0,
    "energy.min_window_updates": 1,
    "hardware.gpu_count": 1,
}
FLOAT_FIELDS = [
    "run.cooldown_s",
    "energy.baseline_s",
    "energy.sample_interval_s",
    "run.timeout_s",
    "workload.sampling.temperature",
    "workload.sampling.top_p",
]
# Closed choices: config groups and literal settings, with their valid values.
CHOICES = {
    "backend": ["llamacpp", "pytorch", "sglang", "tensorrt", "vllm"],
    "energy.meter": ["auto", "none", "nvml", "rapl", "zeus", "codecarbon"],
    "run.isolation": ["process", "inline"],
    "workload.source": ["builtin", "synthetic", "jsonl"],
    "model.weights": ["pretrained", "random"],
    "hardware.device": ["auto", "cpu", "cuda"],
    "backend.dtype": ["auto", "float32", "float16", "bfloat16"],
    "backend.cache_implementation": ["dynamic", "static"],
}


def outcome(overrides: list[str]) -> str | None:
    """None when the command line is accepted, else the UserError's message (anything else fails the test)."""
    try:
        prevalidate(BASE + overrides)
    except UserError as exc:
        return str(exc)
    return None


def assert_one_sentence(message: str, *mentions: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message
    assert message.rstrip(")").endswith((".", "?", "'")), message
    assert any(m in message for m in mentions), (message, mentions)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@FAST
@given(
    key=st.sampled_from(sorted(INT_FIELDS)), value=st.integers(min_value=-(10**6), max_value=1000)
)  # upper limits: tests/test_limits.py
def test_integer_settings_accept_exactly_their_range(key, value):
    # a batch larger than the prompt set is refused on its own rule (tests/test_limits.py): give it the prompts
    partner = [f"workload.num_prompts={value}"] if key == "workload.batch_size" and value >= 1 else []
    message = outcome([f"{key}={value}", *partner])
    if value >= INT_FIELDS[key]:
        assert message is None, message
    else:
        assert message is not None, f"{key}={value} was accepted"
        assert_one_sentence(message, key.rsplit(".", 1)[-1], str(value))


@FAST
@given(
    key=st.sampled_from(sorted(INT_FIELDS) + FLOAT_FIELDS),
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.booleans()),
)
def test_numeric_settings_refuse_junk_in_one_sentence(key, value):
    rendered = _quoted(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else repr(value)
    message = outcome([f"{key}={rendered}"])
    if message is not None:
        assert_one_sentence(message, key.rsplit(".", 1)[-1], "override")
    if isinstance(value, float) and (math.isnan(value) or value < 0) and key in FLOAT_FIELDS:
        assert message is not None, f"{key}={rendered} was accepted"


@FAST
@given(key=st.sampled_from(sorted(CHOICES)), value=st.text(min_size=1, max_size=16))
def test_choice_settings_accept_only_their_options(key, value):
    message = outcome([f"{key}={_quoted(value)}"])
    if value in CHOICES[key]:
        return  # a valid option may still be refused for another reason (a GPU engine on cpu): checked elsewhere
    assert message is not None, f"{key}={value!r} was accepted"
    assert_one_sentence(message, key, key.rsplit(".", 1)[-1], "override")


@FAST
@given(
    key=st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True),
    plus=st.booleans(),
    value=st.integers(),
)
def test_unknown_keys_are_named(key, plus, value):
    known = {"backend", "model", "hardware", "energy", "workload", "tracking", "run", "hydra", "local"}
    if key.split(".")[0] in known and "." not in key:
        return  # a group or section name: covered by the choice test
    message = outcome([f"{'+' if plus else ''}{key}={value}"])
    if key.split(".")[0] == "hydra":
        return  # Hydra's own settings are Hydra's to check
    if message is None:
        return  # e.g. a real setting drawn by chance (run.repeats=5)
    assert_one_sentence(message, key, key.split(".")[0])


# Workload files --------------------------------------------------------------------------------


def _jsonl_outcome(tmp_path: Path, content: bytes) -> str | None:
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"  # fresh name: the reader caches by path
    path.write_bytes(content)
    return outcome(["workload=jsonl", f"workload.path={path}"])


@FAST
@given(content=st.binary(max_size=300))
def test_random_bytes_as_a_workload_file(tmp_path, content):
    message = _jsonl_outcome(tmp_path, content)
    if message is not None:
        assert_one_sentence(message, "workload.path")


_GOOD = st.text(min_size=1, max_size=20).filter(str.strip).map(lambda p: json.dumps({"prompt": p}))
_BAD = st.one_of(
    st.just("{}"),
    st.just('{"prompt": ""}'),
    st.just('{"prompt": 3}'),
    st.just("[1, 2]"),
    st.just('"text"'),
    st.just("{'prompt': 'single quotes'}"),
    st.text(alphabet='{}[]:," ab', max_size=10),
)
_BLANK = st.sampled_from(["", "   ", "\t"])


@FAST
@given(lines=st.lists(st.one_of(_GOOD, _BAD, _BLANK), max_size=8))
def test_workload_lines_are_accepted_exactly_when_every_line_is_a_prompt(tmp_path, lines):
    message = _jsonl_outcome(tmp_path, ("\n".join(lines) + "\n").encode())

    def is_prompt(line: str) -> bool:
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        return isinstance(obj, dict) and isinstance(obj.get("prompt"), str) and bool(obj["prompt"].strip())

    content = [line for line in lines if line.strip()]
    if content and all(is_prompt(line) for line in content):
        assert message is None, message
    else:
        assert message is not None, lines
        assert_one_sentence(message, "workload.path")


# The CLI itself: exit code 2, one line, no traceback, nothing written ----------------------------


@pytest.mark.parametrize(
    "bad",
    [["workload.batch_size=-3"], ["backend=pytorhc"], ["workload.nmu_prompts=2"], ["workload=jsonl", "workload.path=BINARY"]],
)
def test_cli_refuses_bad_input_with_exit_code_2(tmp_path, bad):
    binary = tmp_path / "junk.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage\n")
    bad = [b.replace("BINARY", str(binary)) for b in bad]
    proc = subprocess.run(
        [sys.executable, "-m", "llem", *BASE, *bad, f"run.output_root={tmp_path / 'out'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("llem: error:"), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written
