"""Empty a server's prefix cache before each measured run, as the offline backends do before every
pass: the warm-up, the calibration pass and earlier runs send the same prompts, and a prefix-caching
engine (vLLM's prefix caching, SGLang's radix cache) would otherwise serve their prefills from
cache, so a run would measure cache hits rather than the configured workload.

vLLM: POST /reset_prefix_cache (registered with VLLM_SERVER_DEV_MODE=1, which llem sets for the
servers it starts); answers {"success": false} while blocks are held, so it is retried briefly.
SGLang: POST /flush_cache (400 while requests run). Others: what is known is recorded instead.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Optional

ATTACHED = "attached server: llem does not know its prefix cache and does not reset it"


def reset_prefix_cache(url: str, plan, attempts: int = 5, wait_s: float = 0.2, timeout_s: float = 30.0) -> dict:
    """{"reset": True} after a reset; {"reset": False, "reason": ...} where it failed (a flag);
    {"reset": None, "reason": ...} where there is nothing llem can reset (recorded, not flagged)."""
    if plan is None:
        return {"reset": None, "reason": ATTACHED}
    path = plan.cache_reset_path
    if path is None:
        return {"reset": None, "reason": plan.cache_note}
    last: Optional[str] = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(wait_s)
        try:
            with urllib.request.urlopen(urllib.request.Request(url + path, data=b"", method="POST"), timeout=timeout_s) as r:
                body = r.read()
            ok = _success(body)
            if ok:
                return {"reset": True, "path": path, "attempts": attempt + 1}
            last = f"POST {path} answered {body[:200]!r}"
        except urllib.error.HTTPError as exc:
            last = f"POST {path}: HTTP {exc.code} {exc.read()[:200]!r}"
        except (urllib.error.URLError, OSError) as exc:
            last = f"POST {path}: {exc}"
    return {"reset": False, "path": path, "attempts": attempts, "reason": last}


def _success(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return True  # SGLang answers plain text with 200 on success (errors are HTTP 400)
    return not isinstance(doc, dict) or doc.get("success", True) is not False


def reset_flags(record: dict, run: int) -> list[str]:
    if record.get("reset") is False:
        return [
            f"prefix_cache_not_reset: run {run}: {record['reason']}: prefills of prompts the server saw "
            f"before may come from its cache"
        ]
    return []
