"""The client's own count of a text prompt's tokens for llama-cpp-python's server, which sends no `usage`
in its streams: the GGUF's vocabulary alone (vocab_only, no weights) tokenizes the prompt as the server's
`create_completion` does (BOS/EOS where the GGUF asks for them, special-token text parsed)."""

from __future__ import annotations

from llem.backends.llamacpp.gguf import resolve_gguf


def count_prompt_tokens(gguf_path: str, texts: list[str]) -> list[int]:
    from llama_cpp import Llama

    vocab = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    try:
        seen: dict[str, int] = {}
        for text in texts:
            if text not in seen:
                seen[text] = len(vocab.tokenize(text.encode("utf-8"), add_bos=True, special=True))
        return [seen[t] for t in texts]
    finally:
        vocab.close()


def count_for_spec(spec, texts: list[str]) -> list[int]:
    """The counts for the GGUF that server mode starts llama.cpp's server with for this job."""
    return count_prompt_tokens(str(resolve_gguf(spec.model)[0]), texts)
