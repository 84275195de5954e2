"""backend.speculative_config checked against the installed vLLM's own SpeculativeConfig before any model loads,
read without importing vLLM (it imports torch): the class's fields and the `SpeculativeMethod = Literal[...]`
of `vllm/config/speculative.py` (nested Literal aliases expanded), parsed with `ast`. Fields vLLM fills in
itself (annotated SkipValidation: the target and draft model configs) are not settings. Where vLLM is not
installed here (a submitting host), or the file cannot be read, only the shape is checked, and the engine
checks the rest when it loads.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Optional

from llem.backends.vllm.installed import installed_file as installed
from llem.errors import UserError, choice_error, did_you_mean

RELATIVE = Path("config") / "speculative.py"


def installed_file() -> Optional[Path]:
    return installed(RELATIVE)


@lru_cache(maxsize=8)
def read(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """(SpeculativeConfig's settable fields, the SpeculativeMethod values) of that file."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    aliases = {
        n.targets[0].id: n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
    }
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SpeculativeConfig"), None)
    if cls is None:
        raise SyntaxError(f"{path} defines no SpeculativeConfig class")
    fields = {
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign)
        and isinstance(n.target, ast.Name)
        and not n.target.id.startswith("_")
        and "SkipValidation" not in ast.unparse(n.annotation)
    }
    return frozenset(fields), frozenset(_literal(aliases.get("SpeculativeMethod"), aliases))


def _literal(node, aliases: dict, depth: int = 0) -> list[str]:
    if node is None or depth > 8:
        return []
    if isinstance(node, ast.Name):
        return _literal(aliases.get(node.id), aliases, depth + 1)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Subscript) and ast.unparse(node.value).split(".")[-1] == "Literal":
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return [v for e in elts for v in _literal(e, aliases, depth + 1)]
    return []


def check(config: Optional[dict]) -> None:
    """One sentence for a key the installed vLLM's SpeculativeConfig does not have, or a method it does not know."""
    if not config:
        return
    path = installed_file()
    if path is None:
        return
    try:
        fields, methods = read(str(path))
    except (OSError, SyntaxError):
        return
    for key in config:
        if key not in fields:
            raise UserError(
                f"backend.speculative_config.{key} is not a field of this vLLM's SpeculativeConfig"
                f"{did_you_mean(key, sorted(fields))}: check the name against vLLM's speculative_config."
            )
    method = config.get("method")
    if method is not None and methods and method not in methods:
        raise choice_error("backend.speculative_config.method", str(method), sorted(methods))
