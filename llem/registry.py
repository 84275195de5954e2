"""The engines llem knows, discovered, never listed here: `--help` and validation import no engine.

An engine is one folder, `llem/backends/<name>/`, whose `__init__.py` declares one `ENGINE = Engine(...)`;
a package installed beside llem adds one through the entry-point group `llem.engines`
(`<name> = "pkg.module:ENGINE"`), without editing llem. The engine's name is its key everywhere:
`backend=<name>` on the command line (its settings model's defaults, stored in Hydra's ConfigStore by
llem/backends/configs.py), its folder.

Everything an Engine names by "module:attr" string is imported only when asked for (the settings model
when a config composes or validates, the offline class or the server plan when a job runs it), so
discovering every engine imports only their small `__init__` modules (and pydantic, for an engine whose
settings model lives in its `__init__.py` beside ENGINE rather than in config.py).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
from dataclasses import dataclass, field
from typing import Mapping, Optional

from llem.errors import MissingExtra, UserError, choice_error

ENTRY_POINT_GROUP = "llem.engines"
BUILTIN_PACKAGE = "llem.backends"  # each subpackage with an ENGINE is a built-in engine


@dataclass(frozen=True)
class Engine:
    """One engine's facts: what the rest of llem asks of it, and nothing it must import to say so."""

    name: str
    # "module:Class" of its pydantic settings model (imports nothing heavy; in config.py or in the engine's __init__.py):
    # the one source of its defaults (backend=<name>) and of its settings' documentation (each field's description)
    settings: str
    extra: str  # pip extra of llem that installs the engine (a built-in one)
    modules: tuple[str, ...]  # import names that must be present to run it
    offline: Optional[str] = None  # "module:Class" of its Backend (imports the engine); None: server mode only
    server: Optional[str] = None  # "module:function" (spec, device, port) -> ServerPlan; None: no server llem starts
    dists: tuple[str, ...] = ()  # distributions whose installed version is the engine's version, first found wins
    packages: tuple[str, ...] = ()  # further distributions environment.json records the versions of
    devices: tuple[str, ...] = ("cpu", "cuda")  # where the engine can run
    # Engines in different isolation groups must never share a process (CUDA context clashes).
    isolation_group: str = "torch"
    # What its server's /v1/completions takes as a prompt: "text", and "ids" where a list of token ids works
    # (workload.source=synthetic sends token ids).
    prompts: tuple[str, ...] = ("text",)
    # The Prometheus series its server exports per finished request (llem/serving/engine_metrics.py):
    # {"prefill_sum", "prefill_count", "decode_sum", "decode_count"} -> series name; None: none.
    phase_series: Optional[Mapping[str, str]] = None
    # "module:function" (before, after) -> the phase dict, for a server whose counters are not those
    # histograms (e.g. llama-server's slot-time counters); None: llem/serving/engine_metrics.py reads them.
    phase_reader: Optional[str] = None
    # "module:function" (spec, texts) -> the client's token count of each text prompt, for a server that
    # sends no usage in its streams (llem/serving/requests.py); None: the server's usage counts them.
    prompt_counter: Optional[str] = None
    # Environment variables that turn the engine's usage reporting off (set where unset, before it imports).
    telemetry_off: Mapping[str, str] = field(default_factory=dict)
    # Prefixes of the environment variables the engine reads its own settings from (e.g. "VLLM_"): environment.json
    # records every such variable that is set, as the job saw it (llem/run/envinfo.py), since they change what it runs
    env_prefixes: tuple[str, ...] = ()
    image: Optional[str] = None  # docker/<image>/Dockerfile holds it; None: docker/<name>/
    aliases: tuple[str, ...] = ()  # other names its docker image is asked for by (e.g. trtllm)
    install: Optional[str] = None  # the pip line that installs it; None: pip install 'llem[<extra>]'
    # "module:function" (spec) -> llem.workload.prefix_cache.CacheReadout: what the engine reports of its prefix
    # cache (cached prompt tokens per request); None: nothing is read (docs/workloads.md)
    prefix_cache: Optional[str] = None
    # "module:function" (spec) -> llem.workload.structured.StructuredSupport: how the engine constrains its output to
    # a JSON schema (workload.response_format=json_schema), its grammar backend; None: it cannot, and is refused
    structured: Optional[str] = None
    # "module:function" (spec) -> llem.results.speculative.SpecReadout: what the engine reports of speculative decoding
    # (drafts, drafted and accepted tokens) where the job configures it; None: nothing is read (docs/workloads.md)
    speculative: Optional[str] = None
    # True: its outputs are the reference other engines' outputs are compared with (`llem report`'s output
    # identity): the model's own implementation (transformers); where none of a group is, the first is
    output_reference: bool = False

    @property
    def install_hint(self) -> str:
        return self.install or f"pip install 'llem[{self.extra}]'"

    def settings_model(self):
        """The settings model class: imported here, not at discovery."""
        return load_object(self.settings)

    def check_installed(self) -> None:
        """Raise the exact pip line when the engine is missing; finds modules without importing them."""
        for module in self.modules:
            if importlib.util.find_spec(module) is None:
                if self.install is None:
                    raise MissingExtra(f"backend={self.name}", self.extra, module)
                raise UserError(
                    f"backend={self.name} needs the Python package '{module}', which is not installed: run {self.install}."
                )

    def version(self) -> Optional[str]:
        """The installed version of the engine (its first distribution found), else None."""
        import importlib.metadata as md  # lazy: importlib.metadata brings email, zipfile, csv

        for dist in self.dists:
            try:
                return md.version(dist)
            except md.PackageNotFoundError:
                continue
        return None

    def gpus_used(self, spec) -> Optional[int]:
        """GPUs the engine computes on, where its settings model says (tensor x pipeline parallel); else None."""
        used = getattr(self.settings_model(), "gpus_used", None)
        return None if used is None else used(spec)

    def opt_out(self, env) -> None:
        """Add each of the engine's telemetry switches that env does not set (a user's export stands)."""
        for key, value in self.telemetry_off.items():
            env.setdefault(key, value)


def load_object(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_BUILTIN: dict[str, Engine] = {}
_FOUND: dict[str, Engine] = {}


def _collect(declarations) -> dict[str, Engine]:
    found: dict[str, tuple[Engine, str]] = {}
    for declared, where in declarations:
        if not isinstance(declared, Engine):
            raise UserError(f"{where} declares {declared!r}, not a llem.registry.Engine: fix or uninstall that package.")
        if declared.name in found:
            raise UserError(
                f"engine name {declared.name} is declared twice ({found[declared.name][1]} and {where}): "
                f"uninstall one of them or rename its engine."
            )
        found[declared.name] = (declared, where)
    return {name: e for name, (e, _) in sorted(found.items())}


def engines() -> dict[str, Engine]:
    """Every engine: the built-in folders, then the entry points of installed distributions (cached).
    Two declarations of one name are an error."""
    if not _FOUND:
        _FOUND.update(_collect([*_builtin(), *_installed()]))
    return _FOUND


def builtin_engines() -> dict[str, Engine]:
    """The engines of llem's own folders: no scan of installed distributions (~0.1 s in a large venv)."""
    if not _BUILTIN:
        _BUILTIN.update(_collect(_builtin()))
    return _BUILTIN


def forget_engines() -> None:
    """Discover afresh on the next call (a test that installs an engine package meanwhile)."""
    _BUILTIN.clear()
    _FOUND.clear()


def _builtin():
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            module = importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")
            if hasattr(module, "ENGINE"):
                yield module.ENGINE, f"{BUILTIN_PACKAGE}.{info.name}"


def _installed():
    import importlib.metadata as md  # lazy: only once the built-in folders are read

    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        try:
            declared = ep.load()
        except Exception as exc:  # a broken third-party install must say which one, not crash validation
            raise UserError(
                f"the engine entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP}) could not be "
                f"loaded ({type(exc).__name__}: {exc}): reinstall or uninstall that package."
            ) from None
        yield declared, f"entry point {ep.name} = {ep.value}"


def engine(name: str) -> Engine:
    """The engine called `name` (backend=<name>): a built-in one without scanning installed packages, else
    any discovered; an unknown name is one sentence listing the engines."""
    if name in builtin_engines():
        return _BUILTIN[name]
    found = engines()
    if name not in found:
        raise choice_error("backend", name, list(found))
    return found[name]


backend_info = engine  # the same lookup, by the name its older callers use


def one_of(names: list[str]) -> str:
    """ "a", "a or b", "a, b or c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def no_server(name: str) -> UserError:
    servers = [n for n, i in engines().items() if i.server is not None]
    return UserError(
        f"backend={name} has no server llem can start: use backend={one_of(servers)}, or attach with workload.server_url=<url>."
    )


def engine_version(name: str) -> Optional[str]:
    """The installed version of backend `name`'s engine (its first distribution found), else None."""
    return backend_info(name).version()


def backend_class(name: str):
    """The engine's offline Backend class, its telemetry off first (it imports the engine)."""
    info = backend_info(name)
    if info.offline is None:
        raise UserError(f"backend={name} runs as a server only: set workload.mode=server.")
    info.check_installed()
    info.opt_out(os.environ)
    try:
        return load_object(info.offline)
    except ImportError as exc:  # a broken install of the engine, not a missing one
        raise UserError(f"backend={name} could not import its engine ({exc}); reinstall with {info.install_hint}.") from exc
