"""The sha256 of the exact prompt token ids a job fed its engine, in one fixed encoding that
anyone can recompute without llem: for each request in order, its number of ids and then its
ids, all as little-endian unsigned 32-bit integers (llem.results.outputs.ids_sha256, the encoding
of the output hashes). E.g. requests [1, 2] and [3] hash the bytes of uint32 [2, 1, 2, 1, 3].
Two runs with the same hash saw exactly the same prompt token ids, whatever the engine.

Below it, the content hashes of a job's input files, which its config hash covers."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from llem.paths import cache_dir
from llem.results.io import write_json
from llem.results.outputs import ids_sha256


def token_ids_sha256(requests) -> Optional[str]:
    """The hash of the prompt token ids of `requests` (offline Requests with .input_ids, or
    server-mode RequestInputs whose .prompt is a list of ids); None when a request carries text
    instead (a server tokenizes it: its ids are not known here)."""
    rows = [getattr(r, "input_ids", None) or getattr(r, "prompt", None) for r in requests]
    if any(not isinstance(row, (list, tuple)) for row in rows):
        return None
    return ids_sha256([x for row in rows for x in (len(row), *row)])


# --- The content of a job's input files, part of its identity (llem.config.spec.JobSpec.identity) -------------
#
# A run's config hash covers the settings that name its inputs; for an input that is a file or a
# folder on disk (a JSONL prompt file, a schema or dataset file a workload names, a local model
# folder, a GGUF, a local tokenizer) it also covers the bytes: the same path edited is another run.
# Hashing reads every byte once per file version; a version is known by its (device, inode, size,
# mtime) and its sha256 is kept in memory for the process and on disk under llem's cache dir, so a
# sweep over a 15 GB model folder reads it once, not per point.

_MEMO: dict[str, str] = {}
_CACHE_FILE = "content-sha256.json"
_CHUNK = 1 << 20


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"


def _disk_cache() -> tuple[Path | None, dict]:
    try:
        path = cache_dir() / _CACHE_FILE
    except OSError:
        return None, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return path, data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return path, {}


def file_sha256(path) -> str:
    """The sha256 of a file's bytes (kept per file version: see above)."""
    path = Path(path)
    key = _stat_key(path)
    if key in _MEMO:
        return _MEMO[key]
    cache_path, cache = _disk_cache() if path.stat().st_size >= 64 * _CHUNK else (None, {})
    digest = cache.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                h.update(block)
        digest = h.hexdigest()
        if cache_path is not None:
            cache[key] = digest
            try:
                write_json(cache_path, cache)
            except OSError:
                pass  # a read-only cache only costs the next process a re-read
    if _stat_key(path) != key:  # changed while being read: hash what it is now
        return file_sha256(path)
    _MEMO[key] = digest
    return digest


def tree_sha256(root) -> str:
    """The sha256 of a folder: each file's path below it and its sha256, in sorted order (hidden
    entries such as .git and .cache left out; symlinked files followed)."""
    root = Path(root)
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(f for f in filenames if not f.startswith(".")):
            p = Path(dirpath) / name
            if p.is_file():
                h.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def content_sha256(path) -> str:
    p = Path(path).expanduser()
    return tree_sha256(p) if p.is_dir() else file_sha256(p)


def _local(value) -> Path | None:
    if not isinstance(value, str) or not value or value == "builtin":
        return None
    p = Path(value).expanduser()
    return p if p.exists() else None


def input_paths(spec_dict: dict) -> dict[str, Path]:
    """{setting: local file or folder} of the inputs a job reads: the workload's files (any
    workload setting named path or *_path, or schema / dataset naming a local file), a local
    model folder, a GGUF file, a local tokenizer."""
    w, m = spec_dict.get("workload") or {}, spec_dict.get("model") or {}
    out = {}
    for key, value in sorted(w.items()):
        if key == "path" and w.get("source") not in ("jsonl", "chat"):
            continue  # refused at validation (llem/config/checks.py); never read
        if key == "path" or key.endswith("_path") or key in ("schema", "dataset"):
            p = _local(value)
            if p is not None:
                out[f"workload.{key}"] = p
    if m.get("source") == "path" and _local(m.get("id")) is not None:
        out["model.id"] = _local(m["id"])
    for key in ("gguf", "tokenizer"):
        p = _local(m.get(key))
        if p is not None and (key == "gguf" or p.is_dir()):
            out[f"model.{key}"] = p
    return out


def input_hashes(spec_dict: dict) -> dict[str, str]:
    """{setting: sha256 of its file's or folder's content} (empty for a job with no local inputs)."""
    return {k: content_sha256(p) for k, p in input_paths(spec_dict).items()}
