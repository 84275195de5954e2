"""TEST SUPPORT: refuse any socket connection to an address outside loopback (127.0.0.0/8, ::1).

Installed in the pytest process by tests/conftest.py and in every Python subprocess the tests
start (llem, its workers, engine servers) through tests/subprocess_guard/sitecustomize.py, which conftest
puts on PYTHONPATH. The check runs before the connect syscall, so a blocked connection sends no
packet. Each refusal raises BlockedConnection and, when LLEM_NETGUARD_LOG names a file, appends one
line to it, so that a refusal a library swallowed (retries, telemetry threads) still fails the test.
"""

from __future__ import annotations

import ipaddress
import os
import socket

LOG_ENV = "LLEM_NETGUARD_LOG"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class BlockedConnection(ConnectionRefusedError):
    """A test tried to reach an address outside loopback."""


def allowed(host) -> bool:
    """Whether `host` (an address literal or a name) is loopback. Names other than localhost's
    are refused unresolved: resolving them would itself be network traffic."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).split("%", 1)[0]  # an IPv6 zone id
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check(sock, address) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets (dockerd, Slurm's munge) and netlink stay local by nature
    host = address[0] if isinstance(address, tuple) and address else address
    if allowed(host):
        return
    message = (
        f"llem test network guard: connection to {address!r} refused before the connect syscall "
        f"(pid {os.getpid()}): tests may only reach loopback (127.0.0.0/8, ::1)"
    )
    log = os.environ.get(LOG_ENV)
    if log:
        try:
            with open(log, "a") as f:
                f.write(message + "\n")
        except OSError:
            pass
    raise BlockedConnection(message)


_original = {}


def install() -> None:
    """Patch socket.socket.connect and connect_ex (idempotent)."""
    if _original:
        return
    _original["connect"], _original["connect_ex"] = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        _check(self, address)
        return _original["connect"](self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _original["connect_ex"](self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex


def installed() -> bool:
    return bool(_original)
