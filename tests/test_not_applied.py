"""A setting that does not apply to the chosen option (issue 28): a server-only setting on an offline job
was silently ignored and left out of the run's identity. A single run, or a sweep with no server point,
refuses it in one sentence; a sweep over workload.mode=offline,server shares its server settings across
both modes, so it runs, and each offline point's result.json names what it ignored (settings_not_applied; the
llama-server test of tests/backends checks one end to end)."""

from __future__ import annotations

import pytest

from llem.cli import prevalidate
from llem.config.spec import build_spec
from llem.errors import UserError
from llem.workload.server_checks import not_applied

BASE = ["model=tiny", "hardware=cpu", "tracking=none"]


@pytest.mark.parametrize(
    "args,says",
    [
        (["workload.concurrency=8"], "workload.concurrency=8 applies to server mode only, and this run is not in server mode"),
        (["workload.request_rate=5"], "workload.request_rate=5.0 applies to server mode only"),
        (
            ["--multirun", "workload.concurrency=8,64"],
            "workload.concurrency=8 applies to server mode only, and no point of this sweep is",
        ),
        (
            ["--multirun", "workload.batch_size=1,2", "workload.slo_ttft_s=0.5"],
            "workload.slo_ttft_s=0.5 applies to server mode only",
        ),
    ],
)
def test_refused_where_nothing_uses_it(args, says):
    with pytest.raises(UserError) as exc:
        prevalidate(BASE + args)
    message = str(exc.value)
    assert says in message and "\n" not in message and message.endswith("."), message


@pytest.mark.needs("llama_cpp", "llama.cpp (llama-cpp-python)", "bash .ci/install.d/30-llamacpp.sh")
def test_an_engine_names_its_own_server_settings():
    """backend.server=llama-server offline ran llama.cpp's Python bindings (the engine's offline_ignored says so)."""
    with pytest.raises(UserError, match=r"^backend.server=llama-server applies to server mode only, and this run is not"):
        prevalidate(BASE + ["backend=llamacpp", "model=smollm2-135m", "backend.server=llama-server"])
    assert (
        prevalidate(
            BASE
            + [
                "--multirun",
                "backend=llamacpp",
                "model=smollm2-135m",
                "backend.server=llama-server",
                "workload.mode=offline,server",
            ]
        )
        == 2
    )


def test_a_sweep_over_both_modes_runs_and_flags_its_offline_points():
    assert prevalidate(BASE + ["--multirun", "workload.mode=offline,server", "workload.concurrency=8"]) == 2
    assert prevalidate(BASE + ["workload=server", "workload.concurrency=8"]) == 1  # applies: nothing to say
    assert prevalidate(BASE) == 1  # defaults everywhere


def _spec(**workload):
    from test_config import _compose

    return build_spec(_compose(BASE + [f"workload.{k}={v}" for k, v in workload.items()]))


def test_each_ignored_setting_is_named_and_the_identity_leaves_them_out():
    plain = _spec()
    offline = _spec(concurrency=8, endpoint="chat")
    assert not_applied(plain) == []
    assert not_applied(offline) == ["workload.concurrency=8", "workload.endpoint=chat"]
    assert offline.config_hash() == plain.config_hash()
    assert not_applied(_spec(mode="server", concurrency=8)) == []
