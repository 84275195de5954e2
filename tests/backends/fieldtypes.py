"""Does a value fit a field's declared type? For checking llem's engine mappings against the engines' own
argument classes (vLLM's EngineArgs through typing, SGLang's ServerArgs through its annotation source)."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin


class Unresolved:
    """A name in an annotation source that is not a builtin or typing name (an engine's own class)."""

    def __init__(self, name: str):
        self.name = name

    def __getitem__(self, _item):
        return self

    def __or__(self, other):  # X | Unresolved: accepted as X or anything (the unresolved part is not checked)
        return Any

    __ror__ = __or__


def from_source(annotation: str):
    """'Optional[List[str]]' -> typing.Optional[typing.List[str]]; engine-specific names stay Unresolved."""
    names = {n: getattr(typing, n) for n in ("Optional", "Union", "List", "Dict", "Tuple", "Literal", "Any", "Set")}
    names.update(int=int, str=str, float=float, bool=bool, list=list, dict=dict, tuple=tuple, set=set, None_=None)

    class Scope(dict):
        def __missing__(self, key):
            return Unresolved(key)

    return eval(annotation, {"__builtins__": {}}, Scope(names))  # noqa: S307 (the engine's own annotation text)


def dataclass_hints(cls) -> dict:
    """{field: type} of a dataclass whose annotations are strings, resolved in its module; names it
    imports only for type checkers stay Unresolved (typing.get_type_hints would raise on them)."""
    import builtins
    import dataclasses
    import sys

    module = vars(sys.modules[cls.__module__])

    class Scope(dict):
        def __missing__(self, key):
            if key in module:
                return module[key]
            return getattr(builtins, key, Unresolved(key))

    return {
        f.name: eval(f.type, {"__builtins__": {}}, Scope()) if isinstance(f.type, str) else f.type  # noqa: S307
        for f in dataclasses.fields(cls)
    }


def fits(tp, value) -> bool:
    if tp is Any or isinstance(tp, (Unresolved, typing.TypeVar)):
        return True
    origin, args = get_origin(tp), get_args(tp)
    if origin is Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        return any(fits(a, value) for a in args)
    if origin is Literal:
        return value in args
    if tp is None or tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple, set):
        return (
            isinstance(value, (list, tuple, set)) and all(fits(args[0], v) for v in value)
            if args
            else isinstance(value, (list, tuple, set))
        )
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Annotated:
        return fits(args[0], value)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a typing construct this checker does not model: not a verdict
