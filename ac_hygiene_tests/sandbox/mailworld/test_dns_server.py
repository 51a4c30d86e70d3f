"""The DNS server, queried exactly as the verifier queries it (dnspython's async resolver)."""

from __future__ import annotations

import asyncio
import socket
import time

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene_tests.sandbox.mailworld.support import BIG_TXT, make_resolver


async def _mx(running: RunningMailWorld, name: str) -> list[tuple[int, str]]:
    answer = await make_resolver(running).resolve(name, "MX")
    return sorted((record.preference, record.exchange.to_text()) for record in answer)


async def test_mx_records_in_preference_order(running: RunningMailWorld) -> None:
    assert await _mx(running, "acme.com") == [(10, "mx1.acme.com."), (20, "mx2.acme.com.")]


async def test_null_mx_is_preference_zero_to_the_root(running: RunningMailWorld) -> None:
    assert await _mx(running, "nullmx.org") == [(0, ".")]


async def test_a_fallback_domain_has_no_mx_but_an_a_record(running: RunningMailWorld) -> None:
    resolver = make_resolver(running)
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("aonly.net", "MX")
    answer = await resolver.resolve("aonly.net", "A")
    assert [record.address for record in answer] == ["127.0.0.13"]


async def test_mx_hosts_resolve_to_their_addresses(
    running: RunningMailWorld, world: MailWorld
) -> None:
    resolver = make_resolver(running)
    for host in ("mx1.acme.com", "mx.catchall.io", "mx.down.com"):
        answer = await resolver.resolve(host, "A")
        assert [record.address for record in answer] == [world.hosts[host]]


async def test_mx_answers_carry_the_hosts_addresses_as_glue(
    running: RunningMailWorld, world: MailWorld
) -> None:
    answer = await make_resolver(running).resolve("acme.com", "MX")
    glue = {
        rrset.name.to_text().rstrip("."): [record.address for record in rrset]
        for rrset in answer.response.additional
        if rrset.rdtype == dns.rdatatype.A
    }
    assert glue == {
        "mx1.acme.com": [world.hosts["mx1.acme.com"]],
        "mx2.acme.com": [world.hosts["mx2.acme.com"]],
    }


async def test_null_mx_answer_has_no_glue(
    running: RunningMailWorld,
) -> None:
    answer = await make_resolver(running).resolve("nullmx.org", "MX")
    assert list(answer.response.additional) == []


async def test_nxdomain_for_marked_domains_and_every_unknown_name(
    running: RunningMailWorld,
) -> None:
    resolver = make_resolver(running)
    for name in ("gone.biz", "www.acme.com", "never-heard-of.example", "mx9.acme.com"):
        for qtype in ("MX", "A"):
            with pytest.raises(dns.resolver.NXDOMAIN):
                await resolver.resolve(name, qtype)


async def test_servfail(running: RunningMailWorld) -> None:
    query = dns.message.make_query("flaky-dns.com", "MX")
    response = await dns.asyncquery.udp(query, running.dns_host, port=running.dns_port, timeout=5)
    assert response.rcode() == dns.rcode.SERVFAIL
    with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
        await make_resolver(running).resolve("flaky-dns.com", "MX")


async def test_aaaa_and_empty_answers(running: RunningMailWorld) -> None:
    resolver = make_resolver(running)
    answer = await resolver.resolve("v6.com", "AAAA")
    assert [record.address for record in answer] == ["::1"]
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("acme.com", "AAAA")
    with pytest.raises(dns.resolver.NoAnswer):
        await resolver.resolve("acme.com", "A")


async def test_txt_records(running: RunningMailWorld) -> None:
    answer = await make_resolver(running).resolve("acme.com", "TXT")
    assert [b"".join(record.strings).decode() for record in answer] == [
        "v=spf1 ip4:127.0.0.11 -all"
    ]


async def test_large_answer_is_truncated_over_udp_and_complete_over_tcp(
    running: RunningMailWorld,
) -> None:
    query = dns.message.make_query("bigtxt.com", "TXT")
    udp = await dns.asyncquery.udp(
        query, running.dns_host, port=running.dns_port, timeout=5, ignore_trailing=True
    )
    assert udp.flags & dns.flags.TC
    assert not udp.answer
    tcp = await dns.asyncquery.tcp(query, running.dns_host, port=running.dns_port, timeout=5)
    assert len(tcp.answer[0]) == len(BIG_TXT)
    # The resolver follows the TC bit to TCP by itself.
    answer = await make_resolver(running).resolve("bigtxt.com", "TXT")
    assert sorted(b"".join(r.strings).decode() for r in answer) == sorted(BIG_TXT)


async def test_edns_clients_get_bigger_udp_answers(running: RunningMailWorld) -> None:
    query = dns.message.make_query("bigtxt.com", "TXT", use_edns=0, payload=4096)
    response = await dns.asyncquery.udp(query, running.dns_host, port=running.dns_port, timeout=5)
    assert not response.flags & dns.flags.TC
    assert len(response.answer[0]) == len(BIG_TXT)


async def test_names_are_case_insensitive_and_idn(running: RunningMailWorld) -> None:
    assert await _mx(running, "ACME.Com") == [(10, "mx1.acme.com."), (20, "mx2.acme.com.")]
    expected = [(10, "mx.xn--bcher-kva.de.")]
    assert await _mx(running, "xn--bcher-kva.de") == expected
    assert await _mx(running, "bücher.de") == expected  # dnspython sends the IDNA form


async def test_domain_delay_holds_answers_back_without_serializing_them(
    running: RunningMailWorld,
) -> None:
    resolver = make_resolver(running)
    started = time.perf_counter()
    answers = await asyncio.gather(*(resolver.resolve("slow-dns.com", "MX") for _ in range(8)))
    elapsed = time.perf_counter() - started
    assert all(len(answer) == 1 for answer in answers)
    assert elapsed >= 0.3  # each answer waited its 0.3 s ...
    assert elapsed < 8 * 0.3 / 2  # ... at the same time, not one after another


async def test_global_latency_is_added_to_every_answer(world: MailWorld) -> None:
    async with MailWorldServer(world, latency_s=0.2) as running:
        resolver = make_resolver(running)
        started = time.perf_counter()
        await resolver.resolve("acme.com", "MX")
        with pytest.raises(dns.resolver.NXDOMAIN):
            await resolver.resolve("unknown.example", "A")
        assert time.perf_counter() - started >= 0.4


async def test_queries_are_counted_per_name_and_type(world: MailWorld) -> None:
    async with MailWorldServer(world) as running:
        resolver = make_resolver(running)
        await resolver.resolve("acme.com", "MX")
        await resolver.resolve("ACME.com", "MX")
        await resolver.resolve("aonly.net", "A")
        with pytest.raises(dns.resolver.NXDOMAIN):
            await resolver.resolve("gone.biz", "MX")
        assert running.stats.dns_queries == 4
        assert running.stats.dns_by_query[("acme.com", "MX")] == 2
        assert running.stats.dns_by_query[("gone.biz", "MX")] == 1


def test_packets_that_are_not_queries_get_no_answer(running: RunningMailWorld) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(b"\x00\x01not dns", (running.dns_host, running.dns_port))
        with pytest.raises(TimeoutError):
            sock.recv(4096)
        query = dns.message.make_query("nullmx.org", "MX")
        sock.settimeout(5)
        sock.sendto(query.to_wire(), (running.dns_host, running.dns_port))
        assert dns.message.from_wire(sock.recv(4096)).id == query.id


async def test_stopping_with_tcp_clients_connected_logs_no_errors(world: MailWorld) -> None:
    """Shutdown (Ctrl-C of `sandbox mail`) must not report connected TCP clients as errors."""
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        server = MailWorldServer(world)
        running = await server.start()
        idle = await asyncio.open_connection(running.dns_host, running.dns_port)
        waiting = await asyncio.open_connection(running.dns_host, running.dns_port)
        query = dns.message.make_query("slow-dns.com", "MX").to_wire()
        waiting[1].write(len(query).to_bytes(2, "big") + query)
        await waiting[1].drain()
        await asyncio.sleep(0.1)  # both connections accepted, one query waiting out its delay
        await server.stop()
        for reader, writer in (idle, waiting):
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
        await asyncio.sleep(0.05)  # done-callbacks of the ended tasks run on the next turns
    finally:
        loop.set_exception_handler(previous)
    assert reported == []
