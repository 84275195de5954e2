"""What a report's caption says all runs share, on the README example measured on an H100 (2026-12-07,
docs/results/2026-12-07c-h100-sglang-example: PyTorch, vLLM and llama.cpp offline, real records). Its
caption used to list llama.cpp's own settings (flash_attn False, n_batch 512, ...) and server-only workload
fields (concurrency 4, arrival poisson, ...) under "all runs", for three offline runs of three engines, and then
llama.cpp's server-only settings (server python) for its offline run."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from llem.report.collect import from_directory
from llem.report.paper import build
from llem.report.table import flatten, settings_caption, sort_rows

ENG = Path(__file__).resolve().parents[2] / "docs" / "results" / "2026-12-07c-h100-sglang-example" / "eng.tgz"


@pytest.fixture(scope="module")
def example_rows(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("example")
    with tarfile.open(ENG) as tar:
        tar.extractall(tmp, members=[m for m in tar.getmembers() if m.name.startswith("runs/example/runs")], filter="data")
    return sort_rows([flatten(r) for r in from_directory(tmp / "runs" / "example")])


def test_an_engines_own_settings_are_named_with_it_not_as_all_runs(example_rows):
    assert sorted(r["backend"] for r in example_rows) == ["llamacpp", "pytorch", "vllm"]
    caption = build(example_rows, "example").caption
    shared, *own = caption.split("; all runs: ")[1].rstrip(".").split("; ")
    assert shared.startswith("model llama3.2-1b, hardware cuda, batch 8, in tok 128, out tok 256, mode offline")
    assert "flash_attn" not in shared and "n_batch" not in shared and "seed 0" in shared  # workload.seed: every run's
    assert own[0].startswith("llamacpp only: flash_attn False, n_batch 512, n_ubatch 512")
    assert own[1] == "llamacpp and vllm only: backend.seed 0"  # PyTorch has no seed setting of its own
    # an offline run applies no server-only field: none is listed as if it were
    for field in ("concurrency", "arrival", "burst_size", "endpoint", "ready_timeout_s", "turns", "think_time_s"):
        assert field not in caption, field
    assert not any(k == "workload.concurrency" for r in example_rows for k in r)
    # nor any of llama.cpp's server-only settings (LlamaCppConfig.SERVER_ONLY: which server, its slots)
    assert "server python" not in caption and "slots" not in caption
    assert not {"backend.server", "backend.slots"} & {k for r in example_rows for k in r}


def test_a_column_every_run_shares_is_all_runs_and_nothing_else():
    rows = [{"backend": "a", "model": "m", "backend.x": 1}, {"backend": "a", "model": "m", "backend.x": 1}]
    cols = [("model", "model"), ("backend.x", "x")]
    assert settings_caption(rows, cols, set()) == "all runs: model m, x 1"
    assert settings_caption(rows, cols, {"backend.x"}) == "all runs: model m"
    assert settings_caption([{"backend": "a"}], [("model", "model")], set()) == ""
    # the first row need not be the engine's: its own settings are found wherever they are
    rows = [{"backend": "p", "model": "m"}, {"backend": "l", "model": "m", "backend.f": False}]
    assert settings_caption(rows, [("model", "model"), ("backend.f", "f")], set()) == "all runs: model m; l only: f False"
