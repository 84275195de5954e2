"""The end-of-generation token ids of a GGUF, as llama.cpp itself decides them (llama_vocab_is_eog).

The server plan needs them to keep every request to its full length (llama-cpp-python's server
stops at any EOG token, and its min_tokens blocks only token_eos()). Reading them means loading the
GGUF's vocabulary with llama.cpp, so it runs in a child process without GPUs: the measuring process
never loads the engine (nor, with a CUDA build, a CUDA context). Cached per file, size and mtime.

Run as `python -m llem.backends.llamacpp.vocab <gguf>`: prints the ids as a JSON list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache


def scan(gguf_path: str) -> list[int]:
    """In this process: load the vocabulary only (no weights, no context) and list its EOG ids."""
    import llama_cpp

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    params.n_gpu_layers = 0
    model = llama_cpp.llama_model_load_from_file(gguf_path.encode(), params)
    if not model:
        raise RuntimeError(f"llama.cpp could not read the vocabulary of {gguf_path}")
    try:
        vocab = llama_cpp.llama_model_get_vocab(model)
        return [t for t in range(llama_cpp.llama_vocab_n_tokens(vocab)) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    finally:
        llama_cpp.llama_model_free(model)


def eog_ids(gguf_path: str) -> tuple[int, ...]:
    st = os.stat(gguf_path)
    return _eog_ids(os.path.realpath(gguf_path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _eog_ids(path: str, _size: int, _mtime_ns: int) -> tuple[int, ...]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", HIP_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-m", "llem.backends.llamacpp.vocab", path], capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"reading the end-of-generation tokens of {path} failed: {tail[0]}")
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1])))
