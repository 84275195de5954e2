"""The loopback-only guard every test runs under (tests/conftest.py, tests/netguard.py)."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from netguard import NonLoopbackConnection


def test_a_connection_outside_loopback_is_refused_before_any_packet_and_recorded(_loopback_only):
    with pytest.raises(NonLoopbackConnection, match="192.0.2.1:80, outside loopback"):
        urllib.request.urlopen("http://192.0.2.1/", timeout=5)  # TEST-NET-1: never routed
    assert _loopback_only.attempts == ["192.0.2.1:80"]
    _loopback_only.attempts.clear()  # this test made the attempt on purpose


def test_loopback_connections_pass():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
