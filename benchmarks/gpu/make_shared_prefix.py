"""Write a JSONL prompt file whose prompts share one long prefix (for workload=jsonl).

Every prompt is the same ~PREFIX-token "system" text followed by a short request of its own, so an
engine with a prefix cache (SGLang's RadixAttention, vLLM's automatic prefix caching) can prefill
the prefix once and reuse it. Lengths are counted with the tokenizer the random-weight models use
(llem's tiny tokenizer), and every prompt stays within --max-tokens so that offline mode (which
truncates to workload.input_tokens) and server mode (which sends text whole) send the same tokens.

    python benchmarks/gpu/make_shared_prefix.py OUT.jsonl --prompts 64 --prefix 1408 --max-tokens 1536
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--prefix", type=int, default=1408, help="shared prefix length in tokens (at least)")
    ap.add_argument("--max-tokens", type=int, default=1536, help="no prompt is longer than this")
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from llem.models.builtin import materialize
    from llem.workload.prompts import builtin_prompts

    tok = AutoTokenizer.from_pretrained(str(materialize("tiny")))
    count = lambda text: len(tok(text)["input_ids"])  # noqa: E731
    texts = builtin_prompts()
    prefix, i = "You are a careful assistant. Reference material follows.\n", 0
    while count(prefix) < args.prefix:
        prefix += texts[i % len(texts)] + "\n"
        i += 1
    prefix += "End of reference material.\n\n"
    lengths = []
    with open(args.out, "w", encoding="utf-8") as fh:
        for n in range(args.prompts):
            prompt = f"{prefix}Request {n}: "
            k = n
            while count(prompt + texts[k % len(texts)] + " ") <= args.max_tokens and k < n + 6:
                prompt += texts[k % len(texts)] + " "
                k += 1
            lengths.append(count(prompt))
            fh.write(json.dumps({"prompt": prompt}) + "\n")
    print(
        f"{args.out}: {args.prompts} prompts, shared prefix {count(prefix)} tokens, "
        f"lengths {min(lengths)}-{max(lengths)} tokens (tokenizer: llem tiny, vocab {len(tok)})"
    )


if __name__ == "__main__":
    main()
