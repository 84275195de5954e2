"""What `backend=<name>` composes to is pinned: the backend section of each case (its values and their
order) and the run's config hash. A change in where an option comes from (a YAML file, the settings
model through Hydra's ConfigStore) must leave both as they were, or results already on disk are no
longer found by resume (their run directories are named by the hash)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from llem.config.spec import build_spec, forget_built_specs
from llem.config.validate import plain_config
from llem.registry import Engine

GPU = ["model=tiny", "hardware=cuda", "tracking=none"]
CPU = ["model=tiny", "hardware=cpu", "tracking=none"]
# (backend, overrides, sha256 of the backend section as composed (JSON, in its order; first 16 hex),
# JobSpec.config_hash()): the default backend, each built-in one at its defaults, and with settings set
CASES = [
    (None, CPU, "b687e73532ecd191", "0ead370bc151"),
    ("pytorch", CPU, "b687e73532ecd191", "0ead370bc151"),
    ("pytorch", [*CPU, "backend.dtype=float32", "backend.num_threads=2"], "5e8bf8fb662483e5", "7e24cdb63f10"),
    ("vllm", GPU, "4e12fff65aead809", "78de73f174dc"),
    (
        "vllm",
        [*GPU, "backend.max_num_seqs=8", "+backend.engine_kwargs.long_prefill_token_threshold=256"],
        "691e5bc6344aad2a",
        "6a35b5468af5",
    ),
    ("vllm", [*GPU, "workload=server", "workload.concurrency=4"], "4e12fff65aead809", "a5cdbc22d1eb"),
    ("sglang", GPU, "54caab5df6d2ba03", "5b7a686469e2"),
    ("sglang", [*GPU, "backend.mem_fraction_static=0.8", "backend.disable_cuda_graph=true"], "86620267d5435de0", "0d0a567325fc"),
    ("llamacpp", CPU, "80603a611d5e1c8a", "5914359cdbcf"),
    (
        "llamacpp",
        [*CPU, "backend.n_ctx=1024", "backend.type_k=q8_0", "backend.flash_attn=true"],
        "ed0cc2a2cda921c6",
        "cb9082d89267",
    ),
    ("tensorrt", GPU, "41ad2407899f38f9", "3ab0a685bfe7"),
    ("tensorrt", [*GPU, "backend.max_batch_size=4", "backend.runtime=trt"], "a0003e87afb4b01e", "9207486a953d"),
]


def _overrides(backend, overrides) -> list[str]:
    return ([f"backend={backend}"] if backend else []) + list(overrides)


def composed(backend, overrides):
    with initialize_config_module(config_module="llem.conf", version_base=None):
        return compose(config_name="config", overrides=_overrides(backend, overrides))


def section_digest(cfg) -> str:
    section = json.dumps(OmegaConf.to_container(cfg.backend, resolve=False))
    return hashlib.sha256(section.encode()).hexdigest()[:16]


@pytest.mark.parametrize("backend,overrides,digest,config_hash", CASES)
def test_backend_options_compose_as_before(backend, overrides, digest, config_hash, monkeypatch):
    # the hash does not depend on whether the engine is installed here (sglang, tensorrt need a GPU host)
    monkeypatch.setattr(Engine, "check_installed", lambda self: None)
    forget_built_specs()
    cfg = composed(backend, overrides)
    got = (section_digest(cfg), build_spec(plain_config(cfg)).config_hash())
    want = (digest, config_hash)
    assert got == want, (
        f"{' '.join(_overrides(backend, overrides))} composes to another backend section or config hash "
        f"({got}, was {want}): {OmegaConf.to_container(cfg.backend, resolve=False)}"
    )
