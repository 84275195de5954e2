"""What a GGUF's vocabulary holds, as llama.cpp itself reads it.

`read_vocab` (in the process that loaded the model): its end-of-generation ids (llama_vocab_is_eog),
its special ids, and how many tokens a synthetic prompt may be drawn from. Synthetic prompts are drawn
from `range(vocab_size)` minus the special ids (llem/workload/prompts.py), and every engine must draw
the same ids from the same checkpoint. The other engines count the tokenizer's tokens
(`min(len(tokenizer), config vocab_size)`); a GGUF's `n_vocab` is the embedding's rows, which can be
more: llem's converter (gguf.py), like llama.cpp's own, fills the rows past the tokenizer with
`[PAD<i>]` tokens of type UNUSED. So the drawable tokens end at the last token that is not UNUSED,
where the tokenizer ends.

`eog_ids`: the end-of-generation token ids of a GGUF file, for the server plan. It needs them to keep
every request to its full length (llama-cpp-python's server stops at any EOG token, and its min_tokens
blocks only token_eos()). Reading them means loading the GGUF's vocabulary with llama.cpp, so it runs
in a child process without GPUs: the measuring process never loads the engine (nor, with a CUDA build,
a CUDA context). Cached per file, size and mtime.

Run as `python -m llem.backends.llamacpp.vocab <gguf>`: prints the ids as a JSON list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Vocab:
    n_vocab: int  # the model's rows (llama_vocab_n_tokens): what logit arrays are sized by
    drawable: int  # tokens before the trailing UNUSED padding: the tokenizer's size
    eog: tuple[int, ...]  # end-of-generation tokens
    special: tuple[int, ...]  # end-of-generation, control, BOS, EOS and PAD: never drawn into a prompt


def read_vocab(lib, vocab) -> Vocab:
    """`lib`: the bindings (llama_cpp), `vocab`: llama_model_get_vocab of a loaded model."""
    n = lib.llama_vocab_n_tokens(vocab)
    attrs = [lib.llama_vocab_get_attr(vocab, t) for t in range(n)]
    drawable = n
    while drawable > 0 and attrs[drawable - 1] & lib.LLAMA_TOKEN_ATTR_UNUSED:
        drawable -= 1
    eog = tuple(t for t in range(n) if lib.llama_vocab_is_eog(vocab, t))
    control = {t for t in range(n) if attrs[t] & lib.LLAMA_TOKEN_ATTR_CONTROL}
    named = {lib.llama_vocab_bos(vocab), lib.llama_vocab_eos(vocab), lib.llama_vocab_pad(vocab)}
    special = tuple(sorted(set(eog) | control | {t for t in named if t >= 0}))
    return Vocab(n, drawable, eog, special)


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
        return list(read_vocab(llama_cpp, llama_cpp.llama_model_get_vocab(model)).eog)
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
