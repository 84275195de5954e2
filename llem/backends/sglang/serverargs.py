"""SGLang's ServerArgs, read without importing SGLang (it imports torch): its fields, their types and
the values they accept, parsed with `ast` from the installed package's sources (or any copy of them,
e.g. from a downloaded wheel); and a live instance's fields, whether ServerArgs is a dataclass (up to
0.5.1x) or a msgspec struct (0.5.2x).

Two layouts: up to 0.5.19 every field is declared in the ServerArgs class of
`sglang/srt/server_args.py`; from 0.5.20 the fields live in namespace classes in
`sglang/srt/arg_groups/fields/*.py`, which server_args.py assembles with msgspec.defstruct (the
classes named in its `collect_input_fields(...)` call), and the choice lists in
`sglang/srt/arg_groups/choices.py`.

Where SGLang is not installed, or its sources cannot be read, validation uses lists pinned to one
release (read from that release's sources; the platform-neutral and NVIDIA names), and says which.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

PINNED_RELEASE = "0.5.16"
PINNED_CHOICES = {
    "quantization": (
        "awq",
        "fp8",
        "mxfp8",
        "gptq",
        "marlin",
        "gptq_marlin",
        "awq_marlin",
        "bitsandbytes",
        "gguf",
        "modelopt",
        "modelopt_fp8",
        "modelopt_fp4",
        "nvfp4_online",
        "modelopt_mixed",
        "petit_nvfp4",
        "w8a8_int8",
        "w8a8_fp8",
        "moe_wna16",
        "w4afp8",
        "mxfp4",
        "auto-round",
        "auto-round-int8",
        "compressed-tensors",
        "quark",
        "quark_int4fp8_moe",
        "quark_mxfp4",
        "unquant",
        "humming",
    ),
    "kv_cache_dtype": ("auto", "fp8_e5m2", "fp8_e4m3", "mxfp8", "bf16", "bfloat16", "nvfp4", "fp4_mx_block16", "fp4_e2m1"),
    "attention_backend": (
        "triton",
        "torch_native",
        "flex_attention",
        "dsa",
        "dsv4",
        "cutlass_mla",
        "fa3",
        "fa4",
        "flashinfer",
        "flashmla",
        "trtllm_mla",
        "cutedsl_mla",
        "tokenspeed_mla",
        "trtllm_mha",
        "dual_chunk_flash_attn",
    ),
}


@dataclass(frozen=True)
class FieldInfo:
    type: str  # the annotation as written, e.g. "Optional[str]"
    choices: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class ServerArgsSource:
    fields: dict[str, FieldInfo]
    kind: str  # "dataclass" or "msgspec"
    origin: str  # where the definitions came from, for messages
    layout: str = "server_args.py"  # or "server_args.py + arg_groups/fields/*.py" (0.5.20 on)

    def choices(self, name: str) -> tuple[str, ...]:
        info = self.fields.get(name)
        return info.choices if info and info.choices else ()


def installed_file() -> Optional[Path]:
    """server_args.py of the installed SGLang, found without importing it; None where absent."""
    spec = importlib.util.find_spec("sglang")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "srt" / "server_args.py"
        if path.is_file():
            return path
    return None


def choices_for_validation() -> tuple[dict[str, tuple[str, ...]], str]:
    """({setting: accepted values}, where they come from): the installed SGLang's, else the pinned
    release's, with the reason the installed one was not used."""
    path = installed_file()
    if path is None:
        return dict(PINNED_CHOICES), f"SGLang {PINNED_RELEASE}, pinned in llem (SGLang is not installed here)"
    try:
        source = read(str(path))
    except (OSError, SyntaxError) as exc:
        why = f"its {path.name} could not be read: {exc}"
    else:
        missing = [k for k in PINNED_CHOICES if not source.choices(k)]
        if not missing:
            return {k: source.choices(k) for k in PINNED_CHOICES}, f"the installed SGLang {_installed_version()}"
        why = f"no choices for {', '.join(missing)} found in its {source.layout} ({len(source.fields)} fields read)"
    return dict(PINNED_CHOICES), (
        f"SGLang {PINNED_RELEASE}, pinned in llem (the installed SGLang {_installed_version()} was not used: {why})"
    )


def has_phase_cuda_graph_flags() -> bool:
    """Whether the installed SGLang has disable_decode_cuda_graph / disable_prefill_cuda_graph (every
    release from 0.5.16, the pinned one, has them; an unreadable or absent install counts as pinned)."""
    path = installed_file()
    if path is None:
        return True
    try:
        fields = read(str(path)).fields
    except (OSError, SyntaxError):
        return True
    return "disable_decode_cuda_graph" in fields


def plain(values: dict) -> dict:
    """Only the JSON-plain entries (numbers, strings, booleans, None, lists of those; enums by name)."""
    out = {}
    for key, value in values.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
            out[key] = list(value)
        elif hasattr(value, "name") and hasattr(value, "value"):
            out[key] = value.name
    return out


def _installed_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("sglang")
    except md.PackageNotFoundError:
        return "(version unknown)"


@lru_cache(maxsize=8)
def read(path: str) -> ServerArgsSource:
    """Parse one server_args.py (and, from 0.5.20, the arg_groups/ beside it): ServerArgs' annotated
    fields and their choices."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    lists = _module_lists(tree)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ServerArgs"), None)
    if cls is None:
        raise SyntaxError(f"{path} defines no ServerArgs class")
    groups = Path(path).parent / "arg_groups" / "fields"
    fields = _namespace_fields(tree, groups) if groups.is_dir() else {}
    layout = "server_args.py + arg_groups/fields/*.py" if fields else "server_args.py"
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and not node.target.id.startswith("_"):
            fields[node.target.id] = _field(node.annotation, lists)
    for name, choices in _argparse_choices(tree, lists).items():  # releases that list choices in add_cli_args
        if name in fields and fields[name].choices is None:
            fields[name] = FieldInfo(fields[name].type, choices)
    struct = fields and layout != "server_args.py" or any("Struct" in ast.unparse(b) for b in cls.bases)
    return ServerArgsSource(fields, "msgspec" if struct else "dataclass", f"{path}", layout)


def _namespace_fields(server_args: ast.Module, groups: Path) -> dict[str, FieldInfo]:
    """The fields of the namespace classes ServerArgs is assembled from (0.5.20 on): the classes named
    in server_args.py's collect_input_fields(...) call (a list, or a name bound to one), else every
    class in arg_groups/fields/. Names bound in arg_groups/choices.py resolve choice lists."""
    wanted = _collected_classes(server_args)
    choices_py = groups.parent / "choices.py"
    shared = _module_lists(ast.parse(choices_py.read_text(encoding="utf-8"))) if choices_py.is_file() else {}
    fields: dict[str, FieldInfo] = {}
    for module in sorted(groups.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        lists = {**shared, **_module_lists(tree)}
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            if wanted is not None and cls.name not in wanted:
                continue
            for node in cls.body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and not node.target.id.startswith("_"):
                    fields[node.target.id] = _field(node.annotation, lists)
    return fields


def _collected_classes(tree: ast.Module) -> Optional[set[str]]:
    bound = _module_lists(tree)
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("collect_input_fields") and call.args:
            arg = call.args[0]
            if isinstance(arg, ast.Name):
                arg = bound.get(arg.id)
            if isinstance(arg, (ast.List, ast.Tuple)):
                return {ast.unparse(e) for e in arg.elts}
    return None


def _field(annotation: ast.expr, lists: dict) -> FieldInfo:
    # A[T, "help"] / A[T, Arg(choices=...)] (A is typing.Annotated), or a plain annotation T
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) in ("A", "Annotated", "typing.Annotated"):
        parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        choices = None
        for meta in parts[1:]:
            for call in ast.walk(meta):
                if isinstance(call, ast.Call):
                    for kw in call.keywords:
                        if kw.arg == "choices":
                            choices = _strings(kw.value, lists)
        return FieldInfo(ast.unparse(parts[0]), choices or _literal_strings(parts[0]))
    return FieldInfo(ast.unparse(annotation))


def _literal_strings(annotation: ast.expr) -> Optional[tuple[str, ...]]:
    """The values of a Literal["a", "b"] inside an annotation (e.g. Optional[Literal[...]]), if any."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).split(".")[-1] == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            values = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            return tuple(values) if len(values) == len(elts) else None
    return None


def _argparse_choices(tree: ast.Module, lists: dict) -> dict[str, tuple[str, ...]]:
    out = {}
    for call in ast.walk(tree):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "add_argument"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and str(call.args[0].value).startswith("--")
        ):
            for kw in call.keywords:
                if kw.arg == "choices":
                    values = _strings(kw.value, lists)
                    if values:
                        out[call.args[0].value[2:].replace("-", "_")] = values
    return out


def _module_lists(tree: ast.Module) -> dict[str, ast.expr]:
    return {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}


def _strings(node: ast.expr, lists: dict, depth: int = 0) -> Optional[tuple[str, ...]]:
    """The string values of a list/tuple/set literal, a module-level name bound to one, or a sum of those."""
    if depth > 8:
        return None
    if isinstance(node, ast.Name) and node.id in lists:
        return _strings(lists[node.id], lists, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _strings(node.left, lists, depth + 1), _strings(node.right, lists, depth + 1)
        return left + right if left is not None and right is not None else None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out: list[str] = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                out.append(elt.value)
            elif isinstance(elt, ast.Starred):
                more = _strings(elt.value, lists, depth + 1)
                if more is None:
                    return None
                out += more
            else:
                return None
        return tuple(out)
    return None


def live_fields(args) -> dict:
    """Every field of a live ServerArgs after SGLang resolved its defaults: resolved_dict() where the
    release has it, else the dataclass fields, else the msgspec struct fields; {} for anything else."""
    if args is None:
        return {}
    if callable(getattr(args, "resolved_dict", None)):
        return dict(args.resolved_dict())
    if dataclasses.is_dataclass(args):
        return {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    names = getattr(type(args), "__struct_fields__", None)  # msgspec.Struct, read without importing msgspec
    if names is not None:
        return {name: getattr(args, name) for name in names}
    return {}
