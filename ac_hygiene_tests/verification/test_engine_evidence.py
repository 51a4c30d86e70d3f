"""Undeliverable only on evidence about the mailbox, against real servers speaking real texts.

Each domain of this world answers the way a provider of the corpus does; the engine must call an
address undeliverable only when the reply is about the mailbox AND the server showed, in the
same session, that it tells mailboxes apart (postmaster@ or another address accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, RunningMailWorld
from ac_hygiene.verification import BatchStats, averify_emails
from ac_hygiene_tests.verification.corpus import CORPUS
from ac_hygiene_tests.verification.support import settings_for


def _corpus(provider: str, expected_reason: str) -> str:
    """The first corpus reply of a provider with that verdict, addressed to `{address}`."""
    reply = next(r for r in CORPUS if r.provider == provider and r.expected[1] == expected_reason)
    return reply.raw.replace("x@example.com", "{address}")


PIPELINED_HOST = "127.0.4.1"  # PIPELINING; knows alice@, accepts postmaster@
PIPELINED_STRICT_HOST = "127.0.4.2"  # PIPELINING; knows alice@, refuses postmaster@ too

SENDER_REJECT = "550 5.1.0 <{sender}>: Sender address rejected: Domain not found"
EXIM_SENDER_CALLOUT = (
    "550-Verification failed for <{sender}>\n"
    "550-Called:   192.0.2.9\n"
    "550-Response: 550 5.1.1 <{sender}>: Recipient address rejected: User unknown\n"
    "550 Sender verify failed"
)


def world_data() -> dict:
    return {
        "domains": {
            # Microsoft 365 tenant: 5.1.10 for unknown recipients, postmaster accepted.
            "contoso.com": {
                "mx": [[0, "contoso-com.mail.protection.outlook.com"]],
                "mailboxes": ["ann", "bea"],
                "replies": {"unknown": _corpus("Microsoft 365", "mailbox_not_found")},
            },
            # Gmail's multi-line text.
            "gmail.com": {
                "mx": [[5, "gmail-smtp-in.l.google.com"]],
                "mailbox_pattern": r"[a-z]+\.[a-z]+",
                "replies": {
                    "unknown": _corpus("Gmail", "mailbox_not_found").replace("a1si123", "{address}")
                },
            },
            # Yahoo: 554 without an enhanced code, definite wording.
            "yahoo.com": {
                "mx": [[1, "mta5.am0.yahoodns.net"]],
                "mailbox_pattern": r"[a-z]+\.[a-z]+",
                "replies": {
                    "unknown": "554 delivery error: dd This user doesn't have a yahoo.com account "
                    "({address}) [0] - mta1234.mail.bf1.yahoo.com"
                },
            },
            # Exim: "Unrouteable address" for unknown users; sender callouts on another host.
            "exim.org": {
                "mx": [[10, "mx.exim.org"]],
                "mailboxes": ["phil"],
                "replies": {"unknown": "550 Unrouteable address"},
            },
            "callout.org": {
                "mx": [[10, "mx.callout.org"]],
                "mailboxes": ["phil"],
                "sender_reject": EXIM_SENDER_CALLOUT,
            },
            # Postfix with smtpd_delay_reject: the sender check answered at RCPT, 5.1.0.
            "postfix-strict.net": {
                "mx": [[10, "mx.postfix-strict.net"]],
                "mailboxes": ["kim"],
                "sender_reject": SENDER_REJECT,
            },
            # A server that rejects everything, postmaster too.
            "rejectall.io": {
                "mx": [[10, "mx.rejectall.io"]],
                "mailboxes": ["lee"],
                "rejects_all": True,
                "postmaster": False,
            },
            # Refuses postmaster (against RFC 5321) but tells its own mailboxes apart.
            "nopostmaster.io": {
                "mx": [[10, "mx.nopostmaster.io"]],
                "mailboxes": ["mia"],
                "postmaster": False,
            },
            # Dovecot LMTP quota text for a full mailbox.
            "dovecot.org": {
                "mx": [[10, "mx.dovecot.org"]],
                "mailboxes": ["tim"],
                "full_mailboxes": ["full"],
                "replies": {
                    "full": "552 5.2.2 <{address}> Quota exceeded (mailbox for user is full)"
                },
            },
            # Greylists every first (client, recipient), postmaster included.
            "grey.org": {
                "mx": [[10, "mx.grey.org"]],
                "mailboxes": ["gus"],
                "greylist_seconds": 1,
            },
            # Served by the PIPELINING stand-ins below (aiosmtpd does not offer PIPELINING).
            "pipelined.net": {"a": PIPELINED_HOST},
            "pipelined-strict.net": {"a": PIPELINED_STRICT_HOST},
            # Takes 2 recipients per session: no room left for postmaster@ after a full session.
            "capped.org": {
                "mx": [[10, "mx.capped.org"]],
                "mailbox_pattern": r"user[0-9]+",
                "max_recipients": 2,
            },
        }
    }


@pytest.fixture(scope="module")
def running() -> Iterator[RunningMailWorld]:
    with MailWorldServer(MailWorld.from_dict(world_data())).run_in_thread() as running:
        yield running


def settings(running: RunningMailWorld, **overrides):
    return settings_for(running, canaries=("contoso.com", "gmail.com"), **overrides)


async def verdicts(running: RunningMailWorld, emails: list[str], **overrides) -> dict:
    frame = await averify_emails(emails, settings(running, **overrides))
    return {row["email"]: (row["status"], row["reason"]) for row in frame.iter_rows(named=True)}


async def test_provider_texts_for_unknown_mailboxes_are_undeliverable(
    running: RunningMailWorld,
) -> None:
    got = await verdicts(
        running,
        ["ghost@contoso.com", "no.body@gmail.com", "no.body@yahoo.com", "ghost@exim.org",
         "ann@contoso.com", "full@dovecot.org"],
    )  # fmt: skip
    assert got == {
        "ghost@contoso.com": ("undeliverable", "mailbox_not_found"),
        "no.body@gmail.com": ("deliverable", "accepted"),  # first.last exists at this gmail
        "no.body@yahoo.com": ("deliverable", "accepted"),
        "ghost@exim.org": ("undeliverable", "mailbox_not_found"),
        "ann@contoso.com": ("deliverable", "accepted"),
        "full@dovecot.org": ("risky", "mailbox_full"),
    }
    got = await verdicts(running, ["nobody@gmail.com", "nobody@yahoo.com"])
    assert got == {
        "nobody@gmail.com": ("undeliverable", "mailbox_not_found"),
        "nobody@yahoo.com": ("undeliverable", "mailbox_not_found"),
    }


async def test_a_rejected_sender_never_makes_an_address_undeliverable(
    running: RunningMailWorld,
) -> None:
    got = await verdicts(running, ["kim@postfix-strict.net", "ghost@postfix-strict.net",
                                   "phil@callout.org", "ghost@callout.org"])  # fmt: skip
    assert set(got.values()) == {("unknown", "sender_rejected")}


async def test_a_server_that_rejects_postmaster_too_proves_nothing(
    running: RunningMailWorld,
) -> None:
    stats = BatchStats()
    frame = await averify_emails(
        ["lee@rejectall.io", "ghost@rejectall.io"], settings(running), stats=stats
    )
    assert set(zip(frame["status"], frame["reason"], strict=True)) == {("unknown", "rejects_all")}
    assert stats.smtp.postmaster_checks == 1  # one extra RCPT for the domain, not one per address


async def test_another_accepted_address_is_evidence_enough(running: RunningMailWorld) -> None:
    """nopostmaster.io refuses postmaster@, but accepting mia@ shows it tells mailboxes apart."""
    alone = await verdicts(running, ["ghost@nopostmaster.io"])
    assert alone == {"ghost@nopostmaster.io": ("unknown", "rejects_all")}
    stats = BatchStats()
    frame = await averify_emails(
        ["mia@nopostmaster.io", "ghost@nopostmaster.io"], settings(running), stats=stats
    )
    assert frame["reason"].to_list() == ["accepted", "mailbox_not_found"]
    assert stats.smtp.postmaster_checks == 0


async def test_one_postmaster_rcpt_per_domain_per_session(running: RunningMailWorld) -> None:
    running.stats.reset()
    stats = BatchStats()
    emails = [f"ghost{i}@contoso.com" for i in range(10)]
    frame = await averify_emails(emails, settings(running), stats=stats)
    assert set(frame["reason"]) == {"mailbox_not_found"}
    assert stats.smtp.sessions == 1 and stats.smtp.postmaster_checks == 1
    # 10 addresses + the catch-all test + postmaster@
    assert sum(running.stats.smtp_rcpts.values()) == 12


async def test_a_greylisted_postmaster_is_retried_with_the_address(
    running: RunningMailWorld,
) -> None:
    got = await verdicts(running, ["ghost@grey.org", "gus@grey.org"], greylist_budget_s=8)
    assert got == {
        "ghost@grey.org": ("undeliverable", "mailbox_not_found"),
        "gus@grey.org": ("deliverable", "accepted"),
    }
    got = await verdicts(running, ["ghost2@grey.org"], greylist_budget_s=8)
    assert got == {"ghost2@grey.org": ("undeliverable", "mailbox_not_found")}


async def test_a_recipient_cap_leaves_room_for_postmaster(running: RunningMailWorld) -> None:
    emails = ["ghost1@capped.org", "ghost2@capped.org", "ghost3@capped.org", "user7@capped.org"]
    got = await verdicts(running, emails, check_catch_all=False)
    assert got == {
        "ghost1@capped.org": ("undeliverable", "mailbox_not_found"),
        "ghost2@capped.org": ("undeliverable", "mailbox_not_found"),
        "ghost3@capped.org": ("undeliverable", "mailbox_not_found"),
        "user7@capped.org": ("deliverable", "accepted"),
    }
    got = await verdicts(running, emails[:3])
    assert set(got.values()) == {("undeliverable", "mailbox_not_found")}


async def _pipelining_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, postmaster_ok: bool, log: list
) -> None:
    writer.write(b"220 stub ESMTP\r\n")
    try:
        while line := await reader.readline():
            command = line.decode().strip()
            log.append(command)
            upper = command.upper()
            if upper.startswith("EHLO"):
                writer.write(b"250-stub\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif upper.startswith("QUIT"):
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            elif upper.startswith("RCPT"):
                local = upper.split("<", 1)[1].split("@", 1)[0]
                known = local == "ALICE" or (local == "POSTMASTER" and postmaster_ok)
                writer.write(b"250 2.1.5 OK\r\n" if known else b"550 5.1.1 User unknown\r\n")
            else:
                writer.write(b"250 2.0.0 OK\r\n")
            await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def pipelining_servers(port: int) -> AsyncIterator[list[str]]:
    log: list[str] = []
    servers = [
        await asyncio.start_server(
            lambda r, w, ok=ok: _pipelining_session(r, w, ok, log), host, port
        )
        for host, ok in ((PIPELINED_HOST, True), (PIPELINED_STRICT_HOST, False))
    ]
    try:
        yield log
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


async def test_postmaster_check_over_pipelining(running: RunningMailWorld) -> None:
    async with pipelining_servers(running.smtp_port) as log:
        got = await verdicts(
            running,
            ["ghost@pipelined.net", "ghost2@pipelined.net", "ghost@pipelined-strict.net",
             "alice@pipelined-strict.net", "other@pipelined-strict.net"],
            check_catch_all=False,
        )  # fmt: skip
    assert got == {
        "ghost@pipelined.net": ("undeliverable", "mailbox_not_found"),
        "ghost2@pipelined.net": ("undeliverable", "mailbox_not_found"),
        # postmaster refused, but alice@ accepted in the same session: the server tells apart
        "ghost@pipelined-strict.net": ("undeliverable", "mailbox_not_found"),
        "alice@pipelined-strict.net": ("deliverable", "accepted"),
        "other@pipelined-strict.net": ("undeliverable", "mailbox_not_found"),
    }
    assert log.count("RCPT TO:<postmaster@pipelined.net>") == 1
    assert "RCPT TO:<postmaster@pipelined-strict.net>" not in log
    async with pipelining_servers(running.smtp_port) as log:
        got = await verdicts(running, ["ghost@pipelined-strict.net"])
    assert got == {"ghost@pipelined-strict.net": ("unknown", "rejects_all")}
    assert log.count("RCPT TO:<postmaster@pipelined-strict.net>") == 1
