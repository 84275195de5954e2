"""Reading a checkpoint's tensors without torch: the safetensors format (an 8-byte header length,
a JSON header of name -> dtype, shape, byte offsets, then the raw little-endian data), one file or
shards listed in `model.safetensors.index.json`. F32, F16 and BF16 (the format of most published
checkpoints, which numpy has no dtype for: its 16 bits are the top half of a float32) become
float32 arrays, one tensor at a time, from a memory map."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Iterator

from llem.errors import UserError

_DTYPES = ("F32", "F16", "BF16")


def checkpoint_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder, in order."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    found = sorted(folder.glob("*.safetensors"))
    if not found:
        raise UserError(
            f"{folder} holds no .safetensors weights: llem converts safetensors checkpoints only "
            f"(save the model with safe_serialization=True, or give a .gguf file as model.gguf)."
        )
    return found


def _header(path: Path) -> tuple[dict, int]:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def tensors(folder: Path) -> Iterator[tuple[str, "object"]]:
    """(name, float32 numpy array) for every tensor of the checkpoint."""
    import numpy as np

    for path in checkpoint_files(folder):
        header, start = _header(path)
        data = np.memmap(path, dtype=np.uint8, mode="r")
        for name, info in header.items():
            dtype, shape, (lo, hi) = info["dtype"], info["shape"], info["data_offsets"]
            if dtype not in _DTYPES:
                raise UserError(f"{path.name}: tensor {name} is {dtype}; the converter reads {', '.join(_DTYPES)} checkpoints.")
            raw = data[start + lo : start + hi]
            if dtype == "F32":
                arr = raw.view("<f4")
            elif dtype == "F16":
                arr = raw.view("<f2").astype(np.float32)
            else:  # BF16: widen the 16 bits into the high half of a float32
                arr = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
            yield name, np.asarray(arr, dtype=np.float32).reshape(shape)
