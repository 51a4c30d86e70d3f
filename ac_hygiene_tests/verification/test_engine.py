"""The engine against real DNS and SMTP servers on loopback: every reason code from a real reply."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene.schemas import VERIFICATION_REASONS, Verifications
from ac_hygiene.verification import BatchStats, MemoryCache, averify_emails
from ac_hygiene_tests.verification.support import (
    GREY_BANNER_HOST,
    SILENT_HOST,
    settings_for,
    stub_servers,
)

# address -> (status, reason), one per reason code the engine produces.
EXPECTED = {
    "alice@acme.com": ("deliverable", "accepted"),
    "not an address": ("undeliverable", "invalid_syntax"),
    "someone@gone.biz": ("undeliverable", "no_domain"),
    "someone@nullmx.org": ("undeliverable", "null_mx"),
    "someone@nomail.org": ("undeliverable", "no_mail_server"),
    "no.such.person@acme.com": ("undeliverable", "mailbox_not_found"),
    "carol@acme.com": ("risky", "mailbox_full"),
    "anyone@catchall.io": ("risky", "catch_all"),
    "throwaway@mailinator.com": ("risky", "disposable"),
    "info@acme.com": ("risky", "role_account"),
    "someone@blocked.com": ("unknown", "blocked"),
    "someone@down.com": ("unknown", "smtp_unavailable"),
    "someone@busy.com": ("unknown", "smtp_unavailable"),
    "someone@flaky-dns.com": ("unknown", "dns_error"),
    "someone@silent.com": ("unknown", "smtp_timeout"),
    "someone@odd.com": ("unknown", "smtp_error"),
}


def by_email(frame: pl.DataFrame) -> dict[str, dict]:
    return {row["email"]: row for row in frame.iter_rows(named=True)}


async def test_every_reason_code_comes_from_a_real_reply(running: RunningMailWorld) -> None:
    settings = settings_for(running, smtp_command_timeout_s=0.5, greylist_budget_s=0)
    async with stub_servers(running.smtp_port):
        frame = await averify_emails(list(EXPECTED), settings)
    Verifications.validate(frame)
    assert frame.get_column("email").to_list() == list(EXPECTED)
    got = {row["email"]: (row["status"], row["reason"]) for row in frame.iter_rows(named=True)}
    assert got == EXPECTED
    rows = by_email(frame)
    assert rows["alice@acme.com"]["mx_host"] == "mx1.acme.com"  # preference 10 before 20
    assert rows["alice@acme.com"]["smtp_code"] == 250
    assert rows["no.such.person@acme.com"]["smtp_code"] == 550
    assert rows["carol@acme.com"]["smtp_code"] == 552
    assert rows["someone@blocked.com"]["smtp_code"] == 554
    assert rows["anyone@catchall.io"]["is_catch_all"]
    assert rows["throwaway@mailinator.com"]["is_disposable"]
    assert rows["info@acme.com"]["is_role"]
    assert rows["someone@gone.biz"]["mx_host"] is None
    # Every code the engine uses is one the schema knows (the greylisted one is tested below).
    assert {reason for _, reason in EXPECTED.values()} <= set(VERIFICATION_REASONS)


async def test_dns_timeout_is_unknown_never_undeliverable(running: RunningMailWorld) -> None:
    settings = settings_for(running, dns_timeout_s=0.3)
    frame = await averify_emails(["someone@slow-dns.com"], settings)
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"]) == ("unknown", "dns_error")
    assert row["billable"] is False


async def test_a_record_fallback_and_internationalized_mailbox(running: RunningMailWorld) -> None:
    frame = await averify_emails(["dan@aonly.net", "Jürgen@Bücher.de"], settings_for(running))
    rows = by_email(frame)
    assert rows["dan@aonly.net"]["reason"] == "accepted"
    assert rows["dan@aonly.net"]["mx_host"] == "aonly.net"
    umlaut = rows["Jürgen@Bücher.de"]
    assert (umlaut["status"], umlaut["email_normalized"]) == (
        "deliverable",
        "jürgen@xn--bcher-kva.de",
    )


async def test_refused_primary_mx_falls_back_to_the_next(running: RunningMailWorld) -> None:
    async with stub_servers(running.smtp_port):
        frame = await averify_emails(["someone@failover.com"], settings_for(running))
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"], row["mx_host"]) == (
        "risky",  # the backup stand-in accepts everything, the random address included
        "catch_all",
        "mx-b.failover.com",
    )


async def test_pipelined_recipients_are_read_in_order(running: RunningMailWorld) -> None:
    emails = [f"person{i}@failover.com" for i in range(40)]
    stats = BatchStats()
    async with stub_servers(running.smtp_port):
        frame = await averify_emails(emails, settings_for(running), stats=stats)
    assert frame.get_column("reason").to_list() == ["catch_all"] * 40
    assert stats.smtp.rcpts == 41  # the catch-all test and every address, each answered once
    assert stats.smtp.connections == 2  # 41 recipients, 25 per session


async def test_greylisting_that_clears_within_the_budget_is_deliverable(
    running: RunningMailWorld,
) -> None:
    stats = BatchStats()
    frame = await averify_emails(
        ["erin@grey.net", "frank@grey.net"], settings_for(running), stats=stats
    )
    assert frame.get_column("reason").to_list() == ["accepted", "accepted"]
    assert stats.smtp.greylist_retries >= 2


async def test_greylisting_past_the_budget_is_unknown_greylisted(
    running: RunningMailWorld,
) -> None:
    frame = await averify_emails(["gina@grey.net"], settings_for(running, greylist_budget_s=0))
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"], row["smtp_code"]) == ("unknown", "greylisted", 450)
    assert row["billable"] is False


async def test_many_recipients_share_one_session(world: MailWorld) -> None:
    emails = [f"person{i}@shared-one.com" for i in range(30)] + [
        f"person{i}@shared-two.com" for i in range(30)
    ]
    async with MailWorldServer(world) as running:
        stats = BatchStats()
        frame = await averify_emails(
            emails, settings_for(running, check_catch_all=False), stats=stats
        )
        connections = running.stats.smtp_connections["mx.shared.net"]
        rcpts = running.stats.smtp_rcpts["mx.shared.net"]
    assert frame.get_column("status").unique().to_list() == ["deliverable"]
    assert rcpts == len(emails)
    # Two domains on one MX: 60 recipients at 25 per session is 3 sessions, not 60.
    assert connections == 3 == stats.smtp.connections


async def test_tenants_behind_one_address_share_sessions_but_keep_their_mx_names(
    world: MailWorld,
) -> None:
    emails = ["ann@tenant-a.com", "ben@tenant-b.com", "nobody@tenant-b.com"]
    async with MailWorldServer(world) as running:
        frame = await averify_emails(emails, settings_for(running))
        connections = sum(running.stats.smtp_connections.values())
    assert frame.get_column("reason").to_list() == ["accepted", "accepted", "mailbox_not_found"]
    assert frame.get_column("mx_host").to_list() == [
        "tenant-a.mail.example.net",
        "tenant-b.mail.example.net",
        "tenant-b.mail.example.net",
    ]
    assert connections == 1


async def test_recipient_cap_continues_in_new_sessions(world: MailWorld) -> None:
    emails = [f"user{i}@capped.com" for i in range(10)] + ["nobody@capped.com"]
    async with MailWorldServer(world) as running:
        stats = BatchStats()
        frame = await averify_emails(emails, settings_for(running), stats=stats)
        connections = running.stats.smtp_connections["mx.capped.com"]
    reasons = frame.get_column("reason").to_list()
    assert reasons == ["accepted"] * 10 + ["mailbox_not_found"]
    assert stats.smtp.too_many_splits >= 1
    # 12 RCPTs (with the catch-all test) at 3 per session after the first 452.
    assert 4 <= connections < len(emails)


async def test_one_dns_query_per_domain(world: MailWorld) -> None:
    emails = [f"first.last{i}@acme.com" for i in range(50)] + [f"x{i}@gone.biz" for i in range(20)]
    async with MailWorldServer(world) as running:
        await averify_emails(emails, settings_for(running))
        queries = running.stats.dns_by_query
    assert queries[("acme.com", "MX")] == 1
    assert queries[("gone.biz", "MX")] == 1
    # the MX answers carry their hosts' addresses (glue): nothing more to ask
    assert queries[("mx1.acme.com", "A")] == 0
    # + the canary gmail.com (acme.com, the other canary, is in the batch: asked once for both)
    assert queries[("gmail.com", "MX")] == 1
    assert sum(queries.values()) == 3


async def test_duplicates_are_verified_once_and_billed_once(world: MailWorld) -> None:
    emails = [
        "Alice@ACME.com",
        " alice@acme.com ",
        "first.last@gmail.com",
        "firstlast+news@googlemail.com",  # the same Gmail mailbox: probed once, billed twice
        None,
        "",
        "someone@flaky-dns.com",
        "SOMEONE@flaky-dns.com",
    ]
    async with MailWorldServer(world) as running:
        stats = BatchStats()
        frame = await averify_emails(
            emails, settings_for(running, check_catch_all=False), stats=stats
        )
        rcpts = sum(running.stats.smtp_rcpts.values())
    assert frame.get_column("billable").to_list() == [
        True,
        False,  # same billing key: trimmed, case-insensitive
        True,
        True,  # not the same billing key: billing is not provider-aware
        False,  # no address
        False,
        False,  # unknown: refunded
        False,
    ]
    assert frame.get_column("email_normalized").to_list()[:4] == [
        "alice@acme.com",
        "alice@acme.com",
        "firstlast@gmail.com",
        "firstlast@gmail.com",
    ]
    assert rcpts == 2  # alice once, the Gmail mailbox once
    assert stats.unique_mailboxes == 3


async def test_cache_reuses_definite_results_and_retries_unknown(world: MailWorld) -> None:
    cache = MemoryCache()
    emails = ["alice@acme.com", "no.such.person@acme.com", "someone@flaky-dns.com"]
    async with MailWorldServer(world) as running:
        settings = settings_for(running)
        first = await averify_emails(emails, settings, cache=cache)
        assert set(cache.rows) == {"alice@acme.com", "no.such.person@acme.com"}
        running.stats.reset()
        second = await averify_emails(emails, settings, cache=cache)
        assert sum(running.stats.smtp_connections.values()) == 0
        assert running.stats.dns_by_query[("flaky-dns.com", "MX")] == 1  # unknown: asked again
    assert second.get_column("from_cache").to_list() == [True, True, False]
    assert second.get_column("billable").to_list() == [True, True, False]
    keep = ["email", "status", "reason", "mx_host", "smtp_code", "checked_at"]
    assert second.select(keep).head(2).equals(first.select(keep).head(2))
    Verifications.validate(second)


async def test_switched_off_layers_say_skipped(running: RunningMailWorld) -> None:
    emails = ["alice@acme.com", "throwaway@mailinator.com", "bad@"]
    no_smtp = await averify_emails(emails, settings_for(running, check_smtp=False))
    assert no_smtp.get_column("reason").to_list() == ["skipped", "disposable", "invalid_syntax"]
    assert no_smtp.get_column("mx_host").to_list()[0] == "mx1.acme.com"
    no_dns = await averify_emails(emails, settings_for(running, check_dns=False))
    # No DNS, no verdict: not even a disposable-list hit (it could plan an irreversible Delete).
    assert no_dns.get_column("reason").to_list() == ["skipped", "skipped", "invalid_syntax"]
    assert no_dns.get_column("status").to_list()[:2] == ["unknown", "unknown"]


async def test_progress_reaches_the_total(running: RunningMailWorld) -> None:
    calls: list[tuple[int, int]] = []
    emails = ["alice@acme.com", "bob@acme.com", "x@gone.biz", "bad", None]
    await averify_emails(emails, settings_for(running), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (5, 5)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


async def test_empty_batch_has_the_schema(running: RunningMailWorld) -> None:
    frame = await averify_emails([], settings_for(running))
    assert frame.height == 0
    Verifications.validate(frame)


@pytest.mark.parametrize("bad", ["nope:x", ""])
def test_bad_settings_are_refused_with_the_reason(bad: str) -> None:
    from ac_hygiene.verification import VerificationSettings

    with pytest.raises(ValueError, match="nameserver"):
        VerificationSettings(nameservers=[(bad, 0)] if bad else [])


async def test_a_reply_code_in_non_ascii_digits_is_an_error_not_a_crash(
    running: RunningMailWorld,
) -> None:
    # "²²⁰" passes str.isdigit() but not int(): the batch used to raise ValueError.
    async with stub_servers(running.smtp_port):
        frame = await averify_emails(
            ["someone@garbled.com", "alice@acme.com"], settings_for(running)
        )
    rows = by_email(frame)
    assert (rows["someone@garbled.com"]["status"], rows["someone@garbled.com"]["reason"]) == (
        "unknown",
        "smtp_error",
    )
    assert rows["alice@acme.com"]["reason"] == "accepted"


async def test_an_ip_address_in_a_refusal_is_not_an_enhanced_status_code(
    running: RunningMailWorld,
) -> None:
    # "550 Client host [5.1.1.9] blocked": the block is about the prober, not the mailbox.
    async with stub_servers(running.smtp_port):
        frame = await averify_emails(["someone@ipblock.com"], settings_for(running))
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"], row["smtp_code"]) == ("unknown", "blocked", 550)
    assert row["billable"] is False


async def test_greylisting_at_the_greeting_waits_before_retrying(
    running: RunningMailWorld,
) -> None:
    settings = settings_for(running, greylist_default_delay_s=0.5, greylist_budget_s=0.8)
    async with stub_servers(running.smtp_port) as log:
        frame = await averify_emails(["someone@greybanner.com"], settings)
    row = frame.row(0, named=True)
    assert (row["status"], row["reason"]) == ("unknown", "greylisted")
    times = log.connected[GREY_BANNER_HOST]
    # One try, one retry after the default delay; the next would land past the budget.
    assert len(times) == 2
    assert times[1] - times[0] >= 0.45


async def test_a_cancelled_batch_closes_its_smtp_connections(running: RunningMailWorld) -> None:
    settings = settings_for(running, smtp_command_timeout_s=0.3, check_catch_all=False)
    async with stub_servers(running.smtp_port) as log:
        task = asyncio.ensure_future(averify_emails(["someone@silent.com"], settings))
        # Cancel while the session waits for the reply to its QUIT (the server never answers).
        for _ in range(200):
            if "QUIT" in log.commands[SILENT_HOST]:
                break
            await asyncio.sleep(0.01)
        assert "QUIT" in log.commands[SILENT_HOST]
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task
        # Closed by the engine, not by the garbage collector (StreamWriter.__del__ closes with a
        # ResourceWarning): holding the error keeps the session's frames, so its writer, alive.
        for _ in range(100):
            if log.closed[SILENT_HOST]:
                break
            await asyncio.sleep(0.02)
        assert log.closed[SILENT_HOST] == 1, "the connection outlived the cancelled batch"
        del cancelled
