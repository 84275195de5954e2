"""Libraries' usage reporting, turned off for everything llem runs: a measurement must not
send packets to the internet in its measured windows (nor anywhere else: llem talks to loopback only).

Set with setdefault semantics: a variable the user exported is left as it is (documented in
docs/energy.md, "Network during a measurement"). Each entry names where the library reads it.
"""

from __future__ import annotations

from typing import MutableMapping

OPT_OUTS = {
    # the cross-tool convention (consoledonottrack.com), read by vLLM as "1"
    "DO_NOT_TRACK": "1",
    # huggingface_hub's telemetry (transformers and the serving engines load through it)
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # MLflow 3's telemetry (mlflow/telemetry/utils.py): it reads DO_NOT_TRACK only as "true", so its own
    # variable is needed beside DO_NOT_TRACK=1
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# Each engine's own switches live in its folder (Engine.telemetry_off in llem/backends/<name>/__init__.py);
# llem.registry sets them before the engine's Backend is imported and before its server starts.


def opt_out(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add every opt-out the user has not set to env (os.environ or a child's environment); returns env."""
    for key, value in OPT_OUTS.items():
        env.setdefault(key, value)
    return env
