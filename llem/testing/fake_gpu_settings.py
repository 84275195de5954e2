"""The settable part of the replayed NVML (test-only): power limit and locked clocks per GPU, kept
in a JSON file named by LLEM_FAKE_NVML_STATE so that a job, a process that killed it and a later
`llem gpu-restore` all see the same GPU. LLEM_FAKE_NVML_NO_PERMISSION=1 makes every change fail
as real NVML does for a process without the right (NVML_ERROR_NO_PERMISSION)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

STATE_ENV = "LLEM_FAKE_NVML_STATE"
NO_PERMISSION_ENV = "LLEM_FAKE_NVML_NO_PERMISSION"
DEFAULT_LIMIT_MW = 700_000
LIMIT_RANGE_MW = (100_000, 700_000)  # an H100 SXM's constraints


class FakeGpuSettings:
    def __init__(self, path: Optional[str], error_cls, no_permission: bool = False):
        self.path = Path(path) if path else None
        self.error_cls = error_cls
        self.no_permission = no_permission
        self._memory: dict = {}

    @classmethod
    def from_env(cls, error_cls, env=None) -> "FakeGpuSettings":
        env = os.environ if env is None else env
        return cls(env.get(STATE_ENV), error_cls, env.get(NO_PERMISSION_ENV) == "1")

    def _load(self) -> dict:
        if self.path is None:
            return self._memory
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, state: dict) -> None:
        if self.path is None:
            self._memory = state
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)

    def get(self, uuid: str) -> dict:
        return {"power_limit_mw": DEFAULT_LIMIT_MW, "sm_locked": None, "mem_locked": None, **self._load().get(uuid, {})}

    def set(self, uuid: str, **values) -> None:
        if self.no_permission:
            raise self.error_cls("Insufficient Permissions")
        state = self._load()
        state[uuid] = dict(self.get(uuid), **values)
        self._save(state)
