"""The precision llama.cpp actually ran at, read from the GGUF file it loaded.

A GGUF names its file type (`general.file_type`, llama.h's LLAMA_FTYPE_*: MOSTLY_Q4_K_M = 15, ...),
but a "Q4_K_M" file mixes tensor types (Q4_K for most, Q6_K for some), so the bytes a decode step
reads per weight come from the tensors themselves: the stored bytes over the elements of the
matmul weights (every tensor of two or more dimensions; the token embedding only where the LM
head is tied to it, since a step reads just one row of it otherwise). Reported through the backend's
describe() as generic effective settings that llem/results/roofline.py reads for any engine:
`weight_format`, `weight_bytes_per_param`, `weight_precision_source`.

Reading uses the `gguf` package where it is installed; else llama.cpp's own view of the loaded model
(its metadata's general.file_type, and llama_model_size / llama_model_n_params, which count every
tensor, the embedding too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

# llama.h's enum llama_ftype, as GGUF files record it in general.file_type
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}


def file_type_name(code) -> Optional[str]:
    try:
        return FILE_TYPES.get(int(code))
    except (TypeError, ValueError):
        return None


def _matmul_bytes(tensors: list[tuple[str, int, int, int]]) -> Optional[float]:
    """Stored bytes per element over the matmul weights: (name, dims, elements, bytes) per tensor."""
    names = {t[0] for t in tensors}
    tied = "output.weight" not in names
    chosen = [t for t in tensors if t[1] >= 2 and (t[0] != "token_embd.weight" or tied)]
    elements = sum(t[2] for t in chosen)
    return sum(t[3] for t in chosen) / elements if elements else None


def read_gguf_precision(path) -> dict:
    """From the file: its type name and the mean stored bytes per matmul weight."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    field = reader.fields.get("general.file_type")
    code = int(field.parts[field.data[0]][0]) if field is not None else None
    tensors = [(t.name, len(t.shape), int(t.n_elements), int(t.n_bytes)) for t in reader.tensors]
    return {
        "weight_format": file_type_name(code) if code is not None else None,
        "weight_bytes_per_param": _matmul_bytes(tensors),
        "weight_precision_source": f"GGUF header and tensor table of {Path(path).name}",
    }


def loaded_precision(
    path, metadata: Optional[dict] = None, model_size_b: Optional[int] = None, n_params: Optional[int] = None
) -> dict:
    """What describe() reports: the file read where the gguf package is installed, else llama.cpp's own
    metadata and model size of the loaded model. Fields are None (with the source saying why) where
    neither can tell."""
    try:
        return read_gguf_precision(path)
    except ImportError:
        why = "the gguf package is not installed"
    except (OSError, ValueError, KeyError, IndexError) as exc:
        why = f"the GGUF could not be read ({type(exc).__name__}: {exc})"
    code = (metadata or {}).get("general.file_type")
    per_param = model_size_b / n_params if model_size_b and n_params else None
    return {
        "weight_format": file_type_name(code),
        "weight_bytes_per_param": per_param,
        "weight_precision_source": f"llama.cpp's metadata and llama_model_size / llama_model_n_params "
        f"(every tensor, the embedding too; {why})",
    }
