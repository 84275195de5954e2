"""One Markdown table of every llem result.json under a folder (GPU comparison runs).

    python benchmarks/gpu/summarize_results.py OUTPUT_ROOT

Columns: backend, mode, prompt source, status, J per output token, output tokens/s, TTFT p50/p90
(server mode; offline has no per-token stream), mean prompt tokens, validity flags. A missing value
prints as "n/a", never as 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _flags(flags: list) -> str:
    if not flags:
        return "-"
    return f"{len(flags)}: {str(flags[0])[:70]}" + (" ..." if len(flags) > 1 else "")


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    ident, spec, m = r.get("identity", {}), r.get("spec", {}), r.get("metrics") or {}
    w = spec.get("workload", {})
    ttft = [m.get(f"ttft_p{q}_s") for q in (50, 90)]
    ttft_s = "n/a" if ttft[0] is None else " / ".join(f"{v * 1000:.1f}" for v in ttft if v is not None)
    flags = (r.get("validity") or {}).get("flags") or []
    reqs = r.get("requests") or {}
    counts = reqs.get("input_tokens") if isinstance(reqs, dict) else None
    prompt = sum(counts) / len(counts) if counts else None
    return (
        f"| {ident.get('backend')} {ident.get('engine_version') or ''} | {w.get('mode')} | {w.get('source')} | "
        f"{w.get('num_prompts')} | "
        f"{r.get('status')} | {_fmt(m.get('energy_j_per_output_token'), '.4f')} | "
        f"{_fmt(m.get('output_tokens_per_s'), '.0f')} | {ttft_s} | {_fmt(prompt, '.0f')} | "
        f"{_flags(flags)} | {ident.get('run_id')} |"
    )


def main() -> None:
    root = Path(sys.argv[1])
    print(
        "| engine | mode | prompts | requests | status | J / output token | output tok/s | TTFT p50 / p90 (ms) | "
        "prompt tokens (mean) | flags | run |"
    )
    print("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |")
    for path in sorted(root.rglob("result*.json")):
        try:
            print(row(path))
        except Exception as exc:  # a partial result must not hide the others
            print(f"| {path} | unreadable: {exc} |")


if __name__ == "__main__":
    main()
