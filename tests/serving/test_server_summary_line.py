"""The server row of the one-screen summary: started, reused (a server an earlier job of the sweep started) or attached."""

from __future__ import annotations

from llem.results.server_summary import server_rows


def _result(attached=False, engine_load=None) -> dict:
    load = {"concurrency": 2, "request_rate": None, "arrival": "closed loop"}
    result = {
        "server": {"url": "http://127.0.0.1:4000", "attached": attached, "load": load},
        "metrics": {},
        "windows": [],
        "engine": {"effective_settings": {"endpoint": "/v1/completions"}},
    }
    if engine_load is not None:
        result["engine_load"] = engine_load
    return result


def test_server_row_says_started_reused_or_attached():
    started = {"reused": False, "load_s": 1.2, "loaded_for": "llamacpp_tiny_server_c1-abc"}
    reused = dict(started, reused=True)
    rows = [
        dict(server_rows(r))["server"]
        for r in (_result(engine_load=started), _result(engine_load=reused), _result(attached=True), _result())
    ]
    how = "closed loop, 2 in flight, /v1/completions"
    assert rows == [
        f"started http://127.0.0.1:4000 ({how})",
        f"reused http://127.0.0.1:4000 (started for llamacpp_tiny_server_c1-abc; {how})",
        f"attached to http://127.0.0.1:4000 ({how})",
        f"started http://127.0.0.1:4000 ({how})",
    ]
