"""llem's layering, read from its own imports (ast; nothing is imported): one-way floors.

Rules (docs/architecture.md):
- no import cycle, between modules or between layers (a subpackage such as llem.energy, or a
  top-level module such as llem.registry, is one layer); a "module:attr" string (an Engine's lazy parts, a
  subcommand) is an import made later and counts for every rule but the lazy-import one;
- no production module imports a test double (llem/testing/) but through a listed "module:attr" hook;
- energy and results never import backends; backends never import tracking or report; tracking
  never imports report, the sweep, the entrypoint or the runner; only llem.cli and llem.__main__
  import llem.cli.app or llem.cli (Hydra reaches its callback from conf/config.yaml, not from code);
- no module imports another module's private (_name) names;
- neither llem nor its Hydra plugins (launchers/) use Hydra's private modules (hydra._internal): llem
  is a plain Hydra app on Hydra's public plugin API (imports, and "module:attr" or _target_ strings);
- no lazy (function-local) import of llem's own modules: a module that is cheap to import is imported
  at the top. The one exception is where the laziness saves something: the imported module pulls a
  heavy third-party package at import time (HEAVY, through its own top-level imports) that the
  importing module does not already pull, or the import is one of the few STARTUP_LAZY ones that keep
  `python -m llem --help` free of pydantic and OmegaConf (checked in a fresh interpreter).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from import_graph import Import, cycles, describe_cycle, edges, scan, unit

ROOT = Path(__file__).resolve().parent.parent / "llem"
PLUGINS = ROOT.parent / "launchers"
HYDRA_PRIVATE = "hydra._internal"

# Third-party packages whose import costs real start-up time or memory (or needs a GPU stack).
HEAVY = {
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "vllm",
    "sglang",
    "tensorrt_llm",
    "llama_cpp",
    "gguf",
    "mlflow",
    "matplotlib",
    "pandas",
    "numpy",
    "hydra",
    "omegaconf",
    "aiohttp",
    "httpx",
    "pynvml",
    "zeus",
    "codecarbon",
    "optuna",
    "submitit",
    "docker",
}
# What `python -m llem --help` answers without, on top of HEAVY (tens of ms each, with pydantic's model
# building; inspect, which dataclasses imports, brings ast, dis and tokenize: 15 modules, a quarter of --help).
STARTUP_COST = HEAVY | {"pydantic", "pydantic_core", "rich", "yaml", "inspect"}

# (importer prefix, imported prefix) pairs that must not exist; a prefix names a module and everything under it.
FORBIDDEN = [
    ("llem.energy", "llem.backends"),
    ("llem.results", "llem.backends"),
    ("llem.backends", "llem.tracking"),
    ("llem.backends", "llem.report"),
    ("llem.tracking", "llem.report"),
    ("llem.tracking", "llem.sweep"),
    ("llem.tracking", "llem.cli.app"),
    ("llem.tracking", "llem.run"),
]
# Test doubles (llem/testing/): no production module imports them, but for these "module:attr" hooks,
# each behind a variable that only a test sets.
TEST_DOUBLES = "llem.testing"
TEST_HOOKS = {("llem.energy.nvml", "llem.testing.fake_nvml"): "LLEM_FAKE_NVML_TRACE=<csv>: a replayed NVML trace for pynvml"}
ENTRYPOINTS = ("llem.cli.app", "llem.cli")  # importable only from these two and llem.__main__
ENTRY_IMPORTERS = ("llem.cli", "llem.__main__")

# Lazy imports kept for start-up time where the checker cannot see the cost (an import-time call),
# each checked below in a fresh interpreter to still keep a heavy package out.
STARTUP_LAZY = {
    (
        "llem.cli",
        "llem.cli.app",
    ): "importing llem.cli.app registers llem's OmegaConf resolvers (omegaconf): --help answers without it",
    (
        "llem.cli",
        "llem.config.validate",
    ): "llem.config.validate builds llem.config.spec's pydantic models at import: --help answers without them",
    ("llem.cli", "llem.sweep.points"): "llem.sweep.points imports llem.config.validate (pydantic): --help answers without it",
    ("llem.cli", "llem.registry"): "llem.registry's dataclasses import inspect: --help answers without it",
    (
        "llem.config.compose_errors",
        "llem.registry",
    ): "llem.registry's dataclasses import inspect: --help (which imports llem.config.compose_errors) answers without it",
    ("llem.cli", "llem.sweep.callback"): "llem.sweep.callback subclasses Hydra's Callback (hydra): --help answers without it",
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


# ---- the checks (plain functions of a package tree, so that a planted tree can be checked too) ----


def cycle_report(imports: list[Import], root: Path) -> list[str]:
    found = []
    for level, layers in (("module", None), ("layer", root)):
        graph = edges(imports, layers)
        found += [
            f"{level} cycle among {', '.join(sorted(members))}: {describe_cycle(path, graph)}" for members, path in cycles(graph)
        ]
    return found


def forbidden_report(imports: list[Import]) -> list[str]:
    bad = []
    for i in imports:
        for src, dst in FORBIDDEN:
            if _under(i.importer, src) and _under(i.target, dst):
                bad.append(f"{i.importer} imports {i.target} ({i.where}): {src} must not import {dst}")
        if (
            _under(i.target, TEST_DOUBLES)
            and not _under(i.importer, TEST_DOUBLES)
            and not (i.kind == "reference" and (i.importer, i.target) in TEST_HOOKS)
        ):
            bad.append(
                f"{i.importer} imports the test double {i.target} ({i.where}): production code reaches "
                f"{TEST_DOUBLES} only through a TEST_HOOKS reference"
            )
        if (
            any(_under(i.target, e) for e in ENTRYPOINTS)
            and i.importer not in ENTRY_IMPORTERS
            and not any(_under(i.importer, e) for e in ENTRYPOINTS)
        ):
            bad.append(f"{i.importer} imports the entrypoint {i.target} ({i.where}): only {', '.join(ENTRY_IMPORTERS)} may")
    return bad


def private_report(imports: list[Import]) -> list[str]:
    return [
        f"{i.importer} imports private {n} from {i.target} ({i.where})"
        for i in imports
        for n in i.names
        if n.startswith("_") and not n.startswith("__")
    ]


def hydra_private_report(roots: list[Path]) -> list[str]:
    """Every import of hydra._internal, and every string naming it (a _target_, a "module:attr"), under roots."""
    bad = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [node.value]
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    else []
                )
                if any(n == HYDRA_PRIVATE or n.startswith(HYDRA_PRIVATE + ".") or f"{HYDRA_PRIVATE}." in n for n in names):
                    bad.append(f"{path.relative_to(root.parent)}:{node.lineno} uses {HYDRA_PRIVATE}: use Hydra's public API")
    return bad


def heavy_at_import(root: Path) -> dict[str, set[str]]:
    """Module -> the HEAVY packages importing it pulls in (its top-level imports, followed through llem's own)."""
    direct: dict[str, set[str]] = {}
    llem_deps: dict[str, set[str]] = {}
    for imp in scan(root):
        if not imp.local and imp.kind == "import":
            llem_deps.setdefault(imp.importer, set()).add(imp.target)
    for path in root.rglob("*.py"):
        from import_graph import module_name

        name = module_name(path, root)
        heavy = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only (an `if TYPE_CHECKING:` block is not run)
            mods = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            heavy |= {m.split(".")[0] for m in mods if m.split(".")[0] in HEAVY}
        direct[name] = heavy
    pulled: dict[str, set[str]] = {}

    def pull(m: str, seen: set[str]) -> set[str]:
        if m in pulled:
            return pulled[m]
        out = set(direct.get(m, set()))
        parts = m.split(".")
        for k in range(2, len(parts)):  # importing a submodule runs its packages' __init__ first
            out |= direct.get(".".join(parts[:k]), set())
        for dep in llem_deps.get(m, ()):
            if dep not in seen:
                out |= pull(dep, seen | {dep})
        pulled[m] = out
        return out

    return {m: pull(m, {m}) for m in direct}


def lazy_report(imports: list[Import], root: Path, exempt: tuple[str, ...] = ()) -> list[str]:
    heavy = heavy_at_import(root)
    bad = []
    for i in imports:
        if (
            not i.local
            or i.kind != "import"
            or i.importer in exempt
            or i.target == "llem"
            or (i.importer, i.target) in STARTUP_LAZY
        ):
            continue
        saves = heavy.get(i.target, set()) - heavy.get(i.importer, set())
        if not saves:
            bad.append(
                f"{i.importer} imports {i.target} inside a function ({i.where}); it pulls nothing heavy: import it at the top"
            )
    return bad


def _fail(found: list[str]) -> None:
    assert not found, f"{len(found)} layering offence(s):\n  " + "\n  ".join(found)


# ---- the tests ----


def test_layering_no_import_cycles():
    _fail(cycle_report(scan(ROOT), ROOT))


def test_layering_no_forbidden_imports():
    _fail(forbidden_report(scan(ROOT)))


def test_layering_no_private_names_across_modules():
    _fail(private_report(scan(ROOT)))


def test_layering_no_private_hydra_in_llem_or_its_plugins():
    _fail(hydra_private_report([ROOT, PLUGINS]))


def test_layering_no_lazy_imports_of_llem_modules():
    _fail(lazy_report(scan(ROOT), ROOT))


@pytest.mark.parametrize("importer,target", sorted(STARTUP_LAZY))
def test_layering_startup_lazy_imports_still_keep_a_heavy_package_out(importer, target):
    probe = (
        f"import sys, {importer}; before = set(sys.modules); import {target}; "
        f"print(' '.join(sorted({{m.split('.')[0] for m in set(sys.modules) - before}} & set(sys.argv[1:]))))"
    )
    out = subprocess.run([sys.executable, "-c", probe, *sorted(STARTUP_COST)], capture_output=True, text=True, check=True)
    assert out.stdout.split(), f"{target} no longer pulls a heavy package: {importer} can import it at the top"


def test_layering_rules_cover_the_layers_named_in_the_issue():
    layers = {unit(i.importer, ROOT) for i in scan(ROOT)}
    for name in (
        "llem.energy",
        "llem.backends",
        "llem.results",
        "llem.tracking",
        "llem.report",
        "llem.serving",
        "llem.workload",
        "llem.models",
        "llem.config",
        "llem.host",
        "llem.harness",
        "llem.run",
        "llem.cli",
    ):
        assert name in layers, name  # the scan sees them (a renamed package must be renamed here too)


# ---- the checker itself fails on a planted break ----


@pytest.fixture
def planted(tmp_path):
    """A copy of llem's tree to plant bad imports in."""
    root = tmp_path / "llem"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "conf"), symlinks=True)
    return root


def test_layering_catches_a_planted_upward_import(planted):
    (planted / "energy" / "x.py").write_text("import llem.cli.app\n")
    found = forbidden_report(scan(planted))
    assert any("llem.energy.x imports the entrypoint llem.cli.app" in f and "llem/energy/x.py:1" in f for f in found), found
    (planted / "energy" / "y.py").write_text("from llem.backends.base import Backend\n")
    assert any("llem.energy.y imports llem.backends.base" in f for f in forbidden_report(scan(planted)))


def test_layering_catches_a_planted_cycle(planted):
    assert not any("llem.workload" in f for f in cycle_report(scan(planted), planted))
    (planted / "workload" / "prompts.py").write_text(
        (planted / "workload" / "prompts.py").read_text() + "\nfrom llem.backends.base import Backend\n"
    )
    found = cycle_report(scan(planted), planted)
    members = [f.split(":")[0].removeprefix("layer cycle among ").split(", ") for f in found if f.startswith("layer cycle")]
    assert any("llem.workload" in m and "llem.backends" in m for m in members), found
    assert any("llem.workload -> llem.backends (llem/workload/prompts.py:" in f for f in found), found


def test_layering_catches_a_planted_private_import_and_lazy_import(planted):
    (planted / "results" / "stats.py").write_text(
        (planted / "results" / "stats.py").read_text()
        + "\n\ndef planted():\n    from llem.errors import _private\n    return _private\n"
    )
    assert any("llem.results.stats imports private _private from llem.errors" in f for f in private_report(scan(planted)))
    assert any("llem.results.stats imports llem.errors inside a function" in f for f in lazy_report(scan(planted), planted))


def test_layering_catches_a_planted_private_hydra_import(planted):
    assert not hydra_private_report([planted])
    (planted / "sweep" / "x.py").write_text("from hydra._internal.core_plugins.basic_sweeper import BasicSweeper\n")
    (planted / "sweep" / "y.py").write_text('TARGET = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"\n')
    (planted / "sweep" / "z.py").write_text("def f():\n    import hydra._internal.utils\n")
    found = hydra_private_report([planted])
    assert [f.split(":")[0] for f in found] == ["llem/sweep/x.py", "llem/sweep/y.py", "llem/sweep/z.py"], found


def test_layering_allows_a_lazy_import_that_keeps_a_heavy_package_out(planted):
    (planted / "heavy_thing.py").write_text("import torch\n")
    (planted / "errors.py").write_text((planted / "errors.py").read_text() + "\n\ndef planted():\n    import llem.heavy_thing\n")
    found = lazy_report(scan(planted), planted)
    assert not any("llem.heavy_thing" in f for f in found), found


def test_layering_sees_string_loaded_imports(planted):
    """A lazy "module:attr" reference is an import made later: it obeys the same floors and makes cycles too
    (the central registry of "module:Class" strings that engines replaced made llem.backends -> llem.config.checks
    -> llem.registry -> llem.backends)."""
    (planted / "energy" / "z.py").write_text('SETTINGS = "llem.backends.vllm.config:VllmConfig"\n')
    assert any("llem.energy.z imports llem.backends.vllm.config" in f for f in forbidden_report(scan(planted)))
    (planted / "errors.py").write_text((planted / "errors.py").read_text() + '\nLATER = "llem.registry:engines"\n')
    found = cycle_report(scan(planted), planted)
    assert any("llem.errors" in f and "llem.registry" in f for f in found), found


def test_layering_keeps_test_doubles_out_of_the_product(planted):
    from llem.energy.nvml import REPLAY_ENV
    from llem.testing.fake_nvml import FAKE_TRACE_ENV

    assert REPLAY_ENV == FAKE_TRACE_ENV  # the hook's variable is the one the double reads
    (planted / "energy" / "w.py").write_text("from llem.testing.fake_nvml import FakeNvml\n")
    assert any("llem.energy.w imports the test double llem.testing.fake_nvml" in f for f in forbidden_report(scan(planted)))


def test_benchmarks_import_no_test_module():
    """benchmarks/ measure the product: they may use llem.testing, never a module of tests/."""
    import importlib.util
    import re

    repo = ROOT.parent
    test_modules = {p.stem for p in (repo / "tests").rglob("*.py")}
    bad = []
    for path in sorted((repo / "benchmarks").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"sys\.path.*['\"/]tests\b", text):
            bad.append(f"{path.relative_to(repo)} puts tests/ on sys.path")
        local = {p.stem for p in path.parent.glob("*.py")}
        for node in ast.walk(ast.parse(text)):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module and not node.level
                else []
            )
            for name in (n.split(".")[0] for n in names):
                if name in test_modules and name not in local:
                    spec = importlib.util.find_spec(name)
                    if spec is None or str(repo / "tests") in str(spec.origin):
                        bad.append(f"{path.relative_to(repo)}:{node.lineno} imports the test module {name}")
    _fail(bad)
