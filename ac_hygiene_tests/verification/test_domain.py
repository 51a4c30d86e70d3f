"""DNS layer against the world's real DNS server: MX order, null MX, fallback, errors, sharing."""

from __future__ import annotations

import asyncio

import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene.verification.domain import DomainResolver
from ac_hygiene_tests.sandbox.mailworld.support import world_data
from ac_hygiene_tests.verification.support import settings_for


@pytest.mark.parametrize(
    ("domain", "status", "mx_host"),
    [
        ("acme.com", "ok", "mx1.acme.com"),
        ("aonly.net", "ok", "aonly.net"),
        ("nullmx.org", "null_mx", None),
        ("nomail.org", "no_mail_server", None),
        ("gone.biz", "no_domain", None),
        ("flaky-dns.com", "dns_error", None),
    ],
)
async def test_lookup(running: RunningMailWorld, domain: str, status: str, mx_host: str) -> None:
    result = await DomainResolver(settings_for(running)).lookup(domain)
    assert (result.status, result.mx_host) == (status, mx_host)


async def test_mx_hosts_come_in_preference_order(running: RunningMailWorld) -> None:
    result = await DomainResolver(settings_for(running)).lookup("acme.com")
    assert result.targets == (("mx1.acme.com", "127.0.0.11"), ("mx2.acme.com", "127.0.0.12"))


async def test_timeout_is_a_dns_error(running: RunningMailWorld) -> None:
    result = await DomainResolver(settings_for(running, dns_timeout_s=0.2)).lookup("slow-dns.com")
    assert result.status == "dns_error"
    assert "timed out" in result.detail


async def test_no_server_listening_is_a_dns_error() -> None:
    from ac_hygiene.verification import VerificationSettings

    # A port nothing answers on (the resolver's UDP query goes unanswered until the timeout).
    settings = VerificationSettings(nameservers=[("127.0.0.1", 9)], dns_timeout_s=0.2)
    result = await DomainResolver(settings).lookup("acme.com")
    assert result.status == "dns_error"


async def test_concurrent_lookups_of_one_domain_share_one_query(world: MailWorld) -> None:
    async with MailWorldServer(world) as running:
        resolver = DomainResolver(settings_for(running))
        results = await asyncio.gather(*(resolver.lookup("slow-dns.com") for _ in range(20)))
        queries = running.stats.dns_by_query
    assert {result.status for result in results} == {"ok"}
    assert queries[("slow-dns.com", "MX")] == 1
    assert resolver.stats.queries == 1  # the MX; its host's address came as glue


async def test_mx_host_without_glue_is_resolved_once() -> None:
    data = world_data()
    data["domains"]["lateglue.net"] = {"mx": [[10, "mx.lateglue.net"]], "mailboxes": ["a"]}
    # a slow name gets no glue from the sandbox DNS, so the resolver must ask for it
    data["domains"]["mx.lateglue.net"] = {"a": "127.0.0.16", "dns_delay_s": 0.05}
    async with MailWorldServer(MailWorld.from_dict(data)) as running:
        resolver = DomainResolver(settings_for(running))
        results = await asyncio.gather(*(resolver.lookup("lateglue.net") for _ in range(5)))
        queries = running.stats.dns_by_query
    assert {result.targets for result in results} == {(("mx.lateglue.net", "127.0.0.16"),)}
    assert queries[("lateglue.net", "MX")] == 1
    assert queries[("mx.lateglue.net", "A")] == 1
