"""The SMTP servers, probed as a verifier probes them (smtplib and aiosmtplib as clients)."""

from __future__ import annotations

import smtplib
import time

import aiosmtplib
import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene_tests.sandbox.mailworld.support import rcpt_replies


def test_known_unknown_and_full_mailboxes(running: RunningMailWorld) -> None:
    replies = rcpt_replies(
        running,
        "mx1.acme.com",
        ["alice@acme.com", "ALICE@Acme.COM", "jane.doe@acme.com", "zed@acme.com", "carol@acme.com"],
    )
    assert replies == [
        (250, "2.1.5 OK"),
        (250, "2.1.5 OK"),
        (250, "2.1.5 OK"),
        (550, "5.1.1 <zed@acme.com>: Recipient address rejected: User unknown"),
        (552, "5.2.2 Mailbox full"),
    ]


def test_backup_mx_serves_the_domain_too(running: RunningMailWorld) -> None:
    assert rcpt_replies(running, "mx2.acme.com", ["bob@acme.com"]) == [(250, "2.1.5 OK")]


def test_catch_all_accepts_everything(running: RunningMailWorld) -> None:
    replies = rcpt_replies(
        running, "mx.catchall.io", ["x8k2j9q@catchall.io", "Any.One@catchall.io"]
    )
    assert replies == [(250, "2.1.5 OK"), (250, "2.1.5 OK")]


def test_a_fallback_host_serves_its_domain(running: RunningMailWorld) -> None:
    replies = rcpt_replies(running, "aonly.net", ["dan@aonly.net", "eve@aonly.net"])
    assert [code for code, _ in replies] == [250, 550]


def test_block_answers_554_spamhaus(running: RunningMailWorld) -> None:
    assert rcpt_replies(running, "mx.blocked.com", ["anyone@blocked.com"]) == [
        (554, "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org")
    ]


def test_domains_a_host_does_not_serve_are_relaying_denied(running: RunningMailWorld) -> None:
    replies = rcpt_replies(
        running,
        "mx.shared-host.net",
        ["info@hosted.com", "info@parked.com", "alice@acme.com", "someone@gmail.com"],
    )
    assert replies[0] == (250, "2.1.5 OK")
    assert replies[1:] == [(550, "5.7.1 Relaying denied")] * 3


def test_greylisting_clears_after_the_delay(running: RunningMailWorld) -> None:
    first = rcpt_replies(running, "mx.grey.net", ["erin@grey.net", "nobody@grey.net"])
    assert first == [(450, "4.2.0 Greylisted, please retry in 1 seconds")] * 2
    again = rcpt_replies(running, "mx.grey.net", ["ERIN@grey.net"])
    assert again == [(450, "4.2.0 Greylisted, please retry in 1 seconds")]  # same triplet, too soon
    time.sleep(1.1)
    later = rcpt_replies(
        running, "mx.grey.net", ["erin@grey.net", "nobody@grey.net", "new@grey.net"]
    )
    assert later[0] == (250, "2.1.5 OK")
    assert later[1] == (550, "5.1.1 <nobody@grey.net>: Recipient address rejected: User unknown")
    assert later[2][0] == 450  # a recipient never tried before starts its own wait


def test_recipient_cap_per_session(running: RunningMailWorld) -> None:
    recipients = [f"user{index}@capped.com" for index in range(5)]
    replies = rcpt_replies(running, "mx.capped.com", recipients)
    assert [code for code, _ in replies] == [250, 250, 250, 452, 452]
    assert replies[3] == (452, "4.5.3 Too many recipients")
    # A new session starts a new count.
    assert rcpt_replies(running, "mx.capped.com", ["again@capped.com"]) == [(250, "2.1.5 OK")]


def test_hosts_with_nothing_listening_refuse_connections(running: RunningMailWorld) -> None:
    for host in ("mx.down.com", "mx.dead.com"):
        with pytest.raises(ConnectionRefusedError):
            smtplib.SMTP(running.host_addresses[host], running.smtp_port, timeout=5)


def test_session_commands(running: RunningMailWorld) -> None:
    address = running.host_addresses["mx1.acme.com"]
    with smtplib.SMTP(address, running.smtp_port, local_hostname="probe.example", timeout=5) as s:
        assert s.docmd("NOOP")[0] == 250
        assert s.mail("probe@verifier.example")[0] == 503  # EHLO first
        code, features = s.ehlo()
        assert code == 250
        assert features.decode().splitlines()[0] == "mx1.acme.com"
        assert s.has_extn("smtputf8")
        assert s.mail("probe@verifier.example") == (250, b"2.1.0 OK")
        assert s.rcpt("alice@acme.com")[0] == 250
        assert s.docmd("DATA") == (554, b"5.7.1 no data accepted in the sandbox")
        assert s.rset()[0] == 250
        assert s.rcpt("alice@acme.com")[0] == 503  # RSET forgot MAIL FROM
        assert s.verify("alice@acme.com")[0] == 252
        assert s.helo("probe.example")[0] == 250
        assert s.docmd("QUIT")[0] == 221


def test_banner_names_the_host(running: RunningMailWorld) -> None:
    address = running.host_addresses["mx.catchall.io"]
    smtp = smtplib.SMTP(timeout=5)
    try:
        code, banner = smtp.connect(address, running.smtp_port)
        assert code == 220
        assert banner.decode().startswith("mx.catchall.io ESMTP")
    finally:
        smtp.close()


def test_unicode_local_part_and_idn_domain_over_smtputf8(running: RunningMailWorld) -> None:
    replies = rcpt_replies(
        running,
        "mx.xn--bcher-kva.de",
        ["Jürgen@bücher.de", "JÜRGEN@xn--bcher-kva.de", "anna@bücher.de"],
        utf8=True,
    )
    assert [code for code, _ in replies] == [250, 250, 550]


async def test_aiosmtplib_client_in_the_same_event_loop(world: MailWorld) -> None:
    async with MailWorldServer(world) as running:
        client = aiosmtplib.SMTP(
            hostname=running.host_addresses["mx1.acme.com"], port=running.smtp_port, timeout=5
        )
        async with client:
            await client.ehlo(hostname="probe.example")
            await client.mail("probe@verifier.example")
            accepted = await client.rcpt("alice@acme.com")
            assert (accepted.code, accepted.message) == (250, "2.1.5 OK")
            with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
                await client.rcpt("nobody@acme.com")
            assert refused.value.code == 550
        stats = running.stats
        assert stats.smtp_connections["mx1.acme.com"] == 1
        assert stats.smtp_rcpts["mx1.acme.com"] == 2


def test_domain_latency_holds_back_each_reply(running: RunningMailWorld) -> None:
    started = time.perf_counter()
    assert rcpt_replies(running, "mx.laggy.com", ["a@laggy.com"]) == [(250, "2.1.5 OK")]
    # banner, EHLO, MAIL, RCPT, QUIT: five replies of 0.1 s each
    assert time.perf_counter() - started >= 5 * 0.1


def test_connections_and_rcpts_are_counted_per_host(world: MailWorld) -> None:
    with MailWorldServer(world).run_in_thread() as running:
        rcpt_replies(running, "mx1.acme.com", ["alice@acme.com", "bob@acme.com"])
        rcpt_replies(running, "mx1.acme.com", ["zed@acme.com"])
        rcpt_replies(running, "mx.catchall.io", ["a@catchall.io"])
        figures = running.stats.as_dict()
        assert figures["smtp_connections_by_host"] == {"mx.catchall.io": 1, "mx1.acme.com": 2}
        assert figures["smtp_rcpts_by_host"] == {"mx.catchall.io": 1, "mx1.acme.com": 3}
        assert figures["smtp_rcpts"] == 4
