"""Ask a running server what it resolved (ServerPlan.info_paths, read by the engine's ServerPlan.read_info).

Loopback only, no proxy. A readback never costs a measurement: whatever goes wrong is recorded with
its reason, and the run goes on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Optional


def ask_server_info(plan, timeout_s: float = 10.0) -> Optional[dict]:
    """The engine's reading of the first of plan.info_paths that answers, with read_from; None where
    the engine reads no server info."""
    if plan is None or plan.read_info is None or not plan.info_paths:
        return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    missing = []
    for path in plan.info_paths:
        try:
            with opener.open(plan.url + path, timeout=timeout_s) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # a release without this path: try the next
                missing.append(path)
                continue
            return {"read_from": path, "reason": f"GET {path} answered HTTP {exc.code}"}
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return {"read_from": path, "reason": f"GET {path} failed: {type(exc).__name__}: {exc}"}
        try:
            return {**plan.read_info(answer), "read_from": path}
        except Exception as exc:  # the engine's reader met an answer it does not know
            return {
                "read_from": path,
                "reason": f"the {plan.engine}'s answer to {path} could not be read: {type(exc).__name__}: {exc}",
            }
    return {"read_from": None, "reason": f"none of {', '.join(missing)} answered (HTTP 404)"}
