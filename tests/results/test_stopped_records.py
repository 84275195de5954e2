"""failure.json and interrupted.json: one owner for the fields they share (llem/results/schema.py
stopped_record), and the on-disk shape each had before that owner existed."""

from __future__ import annotations

import signal
import time

import llem
from llem.results.interrupted import interrupted_record
from llem.results.schema import RESULT_SCHEMA_VERSION, failure

SPEC = {"backend": {"name": "pytorch"}, "model": {"name": "tiny"}}


def test_failure_and_interrupted_share_their_head_key_for_key():
    before = time.time()
    failed = failure(SPEC, "run-a", "abc123", {"type": "ValueError", "message": "boom"}, 10.0)
    stopped = interrupted_record(SPEC, "run-a", "abc123", signal.SIGTERM, {"stage": "warmup 1/1", "windows": [{"i": 0}]}, 10.0, 3)
    assert list(failed) == ["schema_version", "status", "identity", "spec", "error"]
    assert list(stopped) == ["schema_version", "status", "identity", "spec", "interrupted", "error", "windows_measured"]
    for record, status in ((failed, "failed"), (stopped, "interrupted")):
        assert record["schema_version"] == RESULT_SCHEMA_VERSION and record["status"] == status
        assert record["spec"] == SPEC
        ident = record["identity"]
        assert list(ident) == ["run_id", "config_hash", "llem_version", "started_unix_s", "finished_unix_s"]
        assert (ident["run_id"], ident["config_hash"], ident["llem_version"], ident["started_unix_s"]) == (
            "run-a",
            "abc123",
            llem.__version__,
            10.0,
        )
        assert before <= ident["finished_unix_s"] <= time.time()
    assert failed["error"] == {"type": "ValueError", "message": "boom"}
    assert stopped["interrupted"] == {"signal": "SIGTERM", "stage": "warmup 1/1", "windows_measured": 1, "windows_requested": 3}
    assert stopped["error"]["type"] == "Interrupted" and "during: warmup 1/1 (1 of 3 window(s)" in stopped["error"]["message"]
    assert stopped["windows_measured"] == [{"i": 0}]
