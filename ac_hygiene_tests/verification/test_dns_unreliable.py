"""No verdict from a broken world: the resolver's canaries, and unknown over every list flag.

Against real servers: the mail world's DNS (which answers NXDOMAIN for every name a world does
not have, so an empty world is an NXDOMAIN-for-everything resolver), and a loopback port with no
DNS server behind it (an unreachable resolver).
"""

from __future__ import annotations

import socket

import pytest

from ac_hygiene.hygiene.policy import CleanPolicy, categorize
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene.schemas import VERIFICATION_REASONS, Verifications
from ac_hygiene.verification import DEFAULT_CANARIES, BatchStats, MemoryCache, averify_emails
from ac_hygiene.verification.settings import VerificationSettings
from ac_hygiene_tests.verification.support import settings_for

# A batch that, on a working resolver, has every kind of DNS-derived verdict.
EMAILS = [
    "alice@acme.com",
    "someone@gone.biz",
    "someone@nullmx.org",
    "throwaway@mailinator.com",
    "bob@gmial.com",
    "not an address",
]


def _free_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_batch_is_unreliable(frame, stats: BatchStats) -> None:
    Verifications.validate(frame)
    rows = {row["email"]: row for row in frame.iter_rows(named=True)}
    for email in EMAILS[:-1]:
        assert (rows[email]["status"], rows[email]["reason"]) == ("unknown", "dns_unreliable")
        assert rows[email]["billable"] is False  # unknown: refunded
        assert rows[email]["mx_host"] is None
    assert rows["not an address"]["reason"] == "invalid_syntax"  # needs no DNS
    assert stats.dns_reliable is False
    assert set(stats.canaries) == set(DEFAULT_CANARIES)
    # The plan can do nothing irreversible, nor unsubscribe anyone, on such a batch.
    actions = {CleanPolicy().action_for(c) for c in categorize(frame.head(len(EMAILS) - 1))}
    assert actions == {"keep"}


async def test_nxdomain_for_everything_resolver_gives_no_verdict() -> None:
    """A captive / misconfigured resolver: NXDOMAIN for gmail.com as for everything else."""
    async with MailWorldServer(MailWorld.from_dict({"domains": {}})) as lying:
        settings = VerificationSettings(
            nameservers=[(lying.dns_host, lying.dns_port)], smtp_port=lying.smtp_port or 25
        )
        stats, cache = BatchStats(), MemoryCache()
        frame = await averify_emails(EMAILS, settings, stats=stats, cache=cache)
    _assert_batch_is_unreliable(frame, stats)
    assert set(stats.canaries.values()) == {"no_domain"}
    assert cache.rows == {}  # nothing of this batch is kept for the month


async def test_unreachable_resolver_gives_no_verdict() -> None:
    settings = VerificationSettings(
        nameservers=[("127.0.0.1", _free_udp_port())], dns_timeout_s=0.5
    )
    stats = BatchStats()
    frame = await averify_emails(EMAILS, settings, stats=stats)
    _assert_batch_is_unreliable(frame, stats)
    assert set(stats.canaries.values()) == {"dns_error"}


async def test_working_resolver_passes_its_canaries(running: RunningMailWorld) -> None:
    stats = BatchStats()
    frame = await averify_emails(EMAILS, settings_for(running), stats=stats)
    assert stats.dns_reliable is True
    assert stats.canaries == {"gmail.com": "ok", "acme.com": "ok"}
    reasons = dict(zip(frame["email"], frame["reason"], strict=True))
    assert reasons["alice@acme.com"] == "accepted"
    assert reasons["someone@gone.biz"] == "no_domain"
    assert "dns_unreliable" in VERIFICATION_REASONS


async def test_a_canary_the_world_lacks_makes_the_batch_unreliable(
    running: RunningMailWorld,
) -> None:
    """Pointing the canaries at a name that does not exist is caught, not trusted."""
    stats = BatchStats()
    frame = await averify_emails(
        ["alice@acme.com"], settings_for(running, canaries=("acme.com", "gone.biz")), stats=stats
    )
    assert stats.dns_reliable is False
    assert frame["reason"].to_list() == ["dns_unreliable"]


async def test_no_canaries_disables_the_check(running: RunningMailWorld) -> None:
    stats = BatchStats()
    frame = await averify_emails(
        ["alice@acme.com"], settings_for(running, canaries=()), stats=stats
    )
    assert stats.dns_reliable is None and frame["reason"].to_list() == ["accepted"]


async def test_disposable_domain_with_a_dns_failure_stays_unknown(
    running: RunningMailWorld,
) -> None:
    """Issue 13, item 2: a DNS outage must never turn into "disposable" (and so into Delete)."""
    frame = await averify_emails(["someone@yopmail.com"], settings_for(running))
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"]) == ("unknown", "dns_error")
    assert row["is_disposable"] is True  # the flag is reported, the verdict is not taken from it
    assert categorize(frame).to_list() == ["unknown"]
    assert CleanPolicy().action_for("unknown") == "keep"


async def test_typo_domain_wins_over_the_disposable_list(running: RunningMailWorld) -> None:
    """gmial.com is on the disposable list and accepts everything: it is a typo, not a service."""
    frame = await averify_emails(["bob@gmial.com", "x@mailinator.com"], settings_for(running))
    typo, disposable = frame.iter_rows(named=True)
    assert (typo["status"], typo["reason"]) == ("undeliverable", "typo_domain")
    assert typo["suggestion"] == "bob@gmail.com"
    assert typo["is_disposable"] is False
    assert (disposable["status"], disposable["reason"]) == ("risky", "disposable")
    assert categorize(frame).to_list() == ["invalid", "disposable"]


@pytest.mark.parametrize("canaries", ["gmail.com", ("gmail.com", "not a name"), ("",)])
def test_bad_canaries_are_refused(canaries) -> None:
    with pytest.raises(ValueError, match="canar"):
        VerificationSettings(canaries=canaries)
