"""Starting and stopping whole worlds: free ports, no clashes, nothing left behind."""

from __future__ import annotations

import smtplib
import socket
import threading

import psutil
import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer
from ac_hygiene.sandbox.mailworld.ports import PortInUse
from ac_hygiene_tests.sandbox.mailworld.support import make_resolver, rcpt_replies


def _open_sockets() -> set[tuple[str, int, str]]:
    return {
        (conn.laddr.ip, conn.laddr.port, conn.status)
        for conn in psutil.Process().net_connections(kind="inet")
        if conn.laddr
    }


def _mail_world_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "mail-world"]


def test_two_worlds_run_side_by_side_and_leave_nothing_behind(world: MailWorld) -> None:
    before = _open_sockets()
    with (
        MailWorldServer(world).run_in_thread() as first,
        MailWorldServer(world).run_in_thread() as second,
    ):
        assert first.smtp_port != second.smtp_port
        assert (first.dns_host, first.dns_port) != (second.dns_host, second.dns_port)
        for running in (first, second):
            assert rcpt_replies(running, "mx1.acme.com", ["alice@acme.com"]) == [(250, "2.1.5 OK")]
        # An SMTP session left open must not keep the world from stopping.
        lingering = smtplib.SMTP(first.host_addresses["mx1.acme.com"], first.smtp_port, timeout=5)
        lingering.ehlo("probe.example")
        ports = {first.smtp_port, first.dns_port, second.smtp_port, second.dns_port}
        assert {port for _, port, _ in _open_sockets()} >= ports
    lingering.close()
    leftover = {entry for entry in _open_sockets() - before if entry[2] != psutil.CONN_TIME_WAIT}
    assert not leftover
    assert not _mail_world_threads()


async def test_async_context_manager_runs_in_the_callers_loop(world: MailWorld) -> None:
    async with MailWorldServer(world) as running:
        answer = await make_resolver(running).resolve("acme.com", "MX")
        assert len(answer) == 2
        assert running.host_addresses == dict(world.hosts)
        assert set(running.smtp_addresses.values()) == {x.address for x in world.listeners}
        ports = {running.dns_port, running.smtp_port}
    assert not _mail_world_threads()
    # The servers' own sockets are gone the moment the block ends (the resolver's client socket
    # closes on the next loop turn, which is dnspython's business).
    assert not [entry for entry in _open_sockets() if entry[1] in ports and entry[2] != "TIME_WAIT"]


def test_a_taken_smtp_port_is_a_clear_error_and_nothing_stays_bound(world: MailWorld) -> None:
    with MailWorldServer(world).run_in_thread() as running:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            dns_port = probe.getsockname()[1]
        clash = MailWorldServer(world, dns_port=dns_port, smtp_port=running.smtp_port)
        expected = f"port {running.smtp_port} is already in use on 127"
        with pytest.raises(PortInUse, match=expected), clash.run_in_thread():
            pass
        # The clashing world's DNS port was released again.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
            again.bind(("127.0.0.1", dns_port))
    assert not _mail_world_threads()


def test_fixed_ports_are_used_as_given(world: MailWorld) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dns_port = probe.getsockname()[1]
    with MailWorldServer(world, dns_port=dns_port).run_in_thread() as running:
        assert running.dns_port == dns_port


def test_negative_latency_is_refused(world: MailWorld) -> None:
    with pytest.raises(ValueError, match="latency_s must be >= 0"):
        MailWorldServer(world, latency_s=-1)
