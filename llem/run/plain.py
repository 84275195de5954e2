"""Plain data for the pipe between llem's process and its measurement worker: dicts, lists, str,
int, float, bool and None only. A str subclass such as torch's TorchVersion (what
``torch.__version__`` is) would otherwise be pickled by reference and make llem's own process
import torch (~2 s) just to read a version string back."""

from __future__ import annotations

import logging
import numbers
from typing import Any

log = logging.getLogger(__name__)


def plain(obj: Any, where: str = "") -> Any:
    """The same data in builtin types. Numbers and strings of subclasses (numpy scalars, TorchVersion)
    become int, float or str; tuples and sets become lists. Anything else is named in a warning and
    sent as its str(), so that one odd field never costs a measured result."""
    kind = type(obj)
    if obj is None or kind in (str, int, float, bool):
        return obj
    if isinstance(obj, dict):
        return {plain(k, where): plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, str):
        return str(obj)
    if kind.__name__ in ("bool", "bool_"):  # numpy's bool is no int subclass
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    log.warning("llem: %s is a %s.%s, not plain data; sent as text", where or "a value", kind.__module__, kind.__qualname__)
    return str(obj)
