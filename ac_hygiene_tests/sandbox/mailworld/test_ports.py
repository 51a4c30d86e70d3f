"""One port on many loopback addresses."""

from __future__ import annotations

import socket

import pytest

from ac_hygiene.sandbox.mailworld.ports import PortInUse, bind_same_port

ADDRESSES = ["127.0.9.1", "127.0.9.2", "127.0.9.3"]


def test_port_zero_finds_one_port_free_on_every_address() -> None:
    port, sockets = bind_same_port([(a, socket.SOCK_STREAM) for a in ADDRESSES], 0)
    try:
        assert port > 0
        assert [s.getsockname() for s in sockets] == [(a, port) for a in ADDRESSES]
        # TCP by protocol number, so asyncio disables Nagle on accepted connections.
        assert all(s.proto == socket.IPPROTO_TCP for s in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_taken_on_one_address_is_avoided_or_reported() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.9.2", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        port, sockets = bind_same_port([(a, socket.SOCK_STREAM) for a in ADDRESSES], 0)
        for sock in sockets:
            sock.close()
        with pytest.raises(PortInUse, match=f"port {taken} is already in use on 127.0.9.2"):
            bind_same_port([(a, socket.SOCK_STREAM) for a in ADDRESSES], taken)
    finally:
        blocker.close()
    assert port != taken


def test_udp_and_tcp_share_a_port() -> None:
    port, sockets = bind_same_port(
        [("127.0.0.1", socket.SOCK_DGRAM), ("127.0.0.1", socket.SOCK_STREAM)], 0
    )
    try:
        assert {s.getsockname()[1] for s in sockets} == {port}
    finally:
        for sock in sockets:
            sock.close()
