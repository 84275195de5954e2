"""llem's own imports, read with ast (nothing is imported): who imports what, where, and how.

Used by tests/test_layering.py. Every `import llem...` / `from llem... import ...` (relative imports
resolved) is an Import; so is a "llem.module:attr" string, the lazy-reference form of an Engine's parts,
the CLI's subcommands and the test hook, since it is an import made later.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

REF = re.compile(r"^(llem(?:\.[A-Za-z_][A-Za-z0-9_]*)+):[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class Import:
    importer: str  # module doing the import, e.g. llem.config.spec
    target: str  # llem module imported (a submodule named in `from pkg import mod` counts as that module)
    names: tuple[str, ...]  # names taken by a from-import (empty for `import x` and references)
    where: str  # path:line
    local: bool  # inside a function (lazy)
    kind: str = "import"  # import | reference ("module:attr" string)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    skip = {root / "conf"}  # the Hydra tree (a symlink to conf/), data only
    return {module_name(p, root): p for p in sorted(root.rglob("*.py")) if not any(s in p.parents for s in skip)}


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, path: str, known: set[str]):
        self.module, self.is_package, self.path, self.known = module, is_package, path, known
        self.depth = 0
        self.found: list[Import] = []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, names: tuple[str, ...], node, kind: str = "import"):
        self.found.append(Import(self.module, target, names, f"{self.path}:{node.lineno}", self.depth > 0, kind))

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            if alias.name == "llem" or alias.name.startswith("llem."):
                self._add(alias.name, (), node)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        if base != "llem" and not base.startswith("llem."):
            return
        plain = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.known:  # `from llem.tracking import sweep`: an import of the module llem.tracking.sweep
                self._add(sub, (), node)
            else:
                plain.append(alias.name)
        if plain:
            self._add(base, tuple(plain), node)

    def visit_Constant(self, node: ast.Constant):
        if isinstance(node.value, str):
            m = REF.match(node.value)
            if m:
                self._add(m.group(1), (node.value.split(":", 1)[1],), node, kind="reference")


def scan(root: Path) -> list[Import]:
    """Every llem import in the package at `root` (the directory holding llem's __init__.py)."""
    modules = _modules(root)
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        visitor = _Visitor(name, path.name == "__init__.py", str(path.relative_to(root.parent)), set(modules))
        visitor.visit(tree)
        found += visitor.found
    return found


def unit(module: str, root: Path) -> str:
    """The layer a module belongs to: its subpackage (llem.energy), or itself for a top-level module."""
    parts = module.split(".")
    if len(parts) >= 2 and (root / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def edges(imports: list[Import], root: Path | None = None) -> dict[tuple[str, str], list[Import]]:
    """(from, to) -> the imports that make the edge; at module level, or between layers when root is given.
    A "module:attr" reference is an edge as well: it is an import made later (an Engine's offline class,
    a subcommand's main). The package root `llem` (its version string) is left out: every module imports
    it implicitly."""
    out: dict[tuple[str, str], list[Import]] = {}
    for imp in imports:
        if imp.target == "llem":
            continue
        a, b = (imp.importer, imp.target) if root is None else (unit(imp.importer, root), unit(imp.target, root))
        if a != b:
            out.setdefault((a, b), []).append(imp)
    return out


def cycles(graph: dict[tuple[str, str], list[Import]]) -> list[tuple[set[str], list[str]]]:
    """Per strongly connected component of more than one node: its members, and one closed path a -> ... -> a."""
    succ: dict[str, list[str]] = {}
    for a, b in graph:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def strong(v):  # Tarjan's algorithm
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(set(comp))

    for v in sorted(succ):
        if v not in index:
            strong(v)
    return [(comp, _path_within(comp, succ)) for comp in comps]


def _path_within(comp: set[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest closed path through the component's smallest node (breadth-first)."""
    start = min(comp)
    prev, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(succ[v]):
                if w == start:
                    path, x = [], v
                    while x is not None:
                        path.append(x)
                        x = prev[x]
                    return path[::-1] + [start]
                if w in comp and w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(comp)


def describe_cycle(path: list[str], graph: dict[tuple[str, str], list[Import]]) -> str:
    hops = [f"{a} -> {b} ({graph[(a, b)][0].where})" for a, b in zip(path, path[1:])]
    return " ; ".join(hops)
