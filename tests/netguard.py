"""Tests talk to loopback only: socket connections to any other address are refused in the test process
and reported, so a test that reaches the internet (an engine phoning home, a Hub download) fails.

In-process only: a subprocess (llem's CLI, a server) is not watched here; llem sets the engines'
opt-out variables for those (llem/host/telemetry.py, tests/test_telemetry.py)."""

from __future__ import annotations

import ipaddress
import socket


class NonLoopbackConnection(AssertionError):
    """Not an OSError, so code that retries on network errors does not swallow it."""


def _outside_loopback(sock, address) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return False  # unix sockets (dockerd, a local Slurm), netlink...
    host = address[0]
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a name connect() would resolve itself
        return True


class Guard:
    def __init__(self):
        self.attempts: list[str] = []
        self._connect, self._connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _check(self, sock, address) -> None:
        if _outside_loopback(sock, address):
            where = f"{address[0]}:{address[1]}"
            self.attempts.append(where)
            raise NonLoopbackConnection(f"a test opened a connection to {where}, outside loopback: tests talk to 127.0.0.1 only")

    def install(self, monkeypatch) -> "Guard":
        guard = self

        def connect(sock, address):
            guard._check(sock, address)
            return guard._connect(sock, address)

        def connect_ex(sock, address):
            guard._check(sock, address)
            return guard._connect_ex(sock, address)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        return self
