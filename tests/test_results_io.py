"""Atomic writes: whole files or nothing, readable like any other file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from llem.results.io import atomic_write_text, write_json


def test_write_json_is_complete_and_group_readable(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "r" / "result.json", {"a": 1, "b": [1.5, None]})
    finally:
        os.umask(old)
    path = tmp_path / "r" / "result.json"
    assert json.loads(path.read_text()) == {"a": 1, "b": [1.5, None]}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temp file left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "result.json"
    atomic_write_text(path, "old\n")
    with pytest.raises(TypeError):
        atomic_write_text(path, 123)  # fails inside the write, after the temp file exists
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
