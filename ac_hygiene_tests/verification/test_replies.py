"""The reply table, on the wording real servers use (Postfix, Exchange, Gmail, the sandbox)."""

from __future__ import annotations

import pytest

from ac_hygiene.verification import classify_rcpt
from ac_hygiene.verification.replies import classify_session, retry_delay


@pytest.mark.parametrize(
    ("code", "text", "status", "reason"),
    [
        (250, "2.1.5 OK", "deliverable", "accepted"),
        (251, "User not local; will forward", "deliverable", "accepted"),
        (550, "5.1.1 <x@acme.com>: Recipient address rejected: User unknown", "undeliverable",
         "mailbox_not_found"),
        (550, "5.1.1 The email account that you tried to reach does not exist.", "undeliverable",
         "mailbox_not_found"),
        (550, "Requested action not taken: mailbox unavailable", "undeliverable",
         "mailbox_not_found"),
        (553, "sorry, no such user here", "undeliverable", "mailbox_not_found"),
        (552, "5.2.2 Mailbox full", "risky", "mailbox_full"),
        (452, "4.2.2 The email account that you tried to reach is over quota", "risky",
         "mailbox_full"),
        (554, "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org", "unknown",
         "blocked"),
        (550, "5.7.1 Relaying denied", "unknown", "blocked"),
        (550, "Message rejected due to poor reputation", "unknown", "blocked"),
        (550, "Rejected", "unknown", "smtp_error"),  # a bare 550 is not trusted as "no user"
        (421, "4.7.0 Try again later, closing connection", "unknown", "smtp_unavailable"),
        (500, "5.5.2 Syntax error", "unknown", "smtp_error"),
        # An address in the text is not an enhanced code (those open the text, RFC 3463).
        (550, "Client host [5.1.1.9] blocked using zen.spamhaus.org", "unknown", "blocked"),
        (553, "Mail from 10.5.2.2 refused", "unknown", "blocked"),  # about our client
        # A bare 5.1.0 ("other address status") says nothing definite about the mailbox.
        (550, "#5.1.0 Address rejected", "unknown", "smtp_error"),
        (550, "#5.1.0 <x@acme.com>: user unknown", "undeliverable", "mailbox_not_found"),
    ],
)  # fmt: skip
def test_rcpt_verdicts(code: int, text: str, status: str, reason: str) -> None:
    verdict = classify_rcpt(code, text)
    assert (verdict.status, verdict.reason) == (status, reason)
    assert not verdict.retry and not verdict.too_many


@pytest.mark.parametrize(
    "reply",
    [
        (450, "4.2.0 Greylisted, please retry in 2 seconds"),
        (451, "4.7.1 Please try again later"),
        (450, "4.7.1 <x@acme.com>: Recipient address rejected: Greylisted"),
    ],
)
def test_greylisting_is_retried(reply: tuple[int, str]) -> None:
    verdict = classify_rcpt(*reply)
    assert verdict.retry and verdict.reason == "greylisted"


def test_too_many_recipients_asks_for_a_new_session() -> None:
    assert classify_rcpt(452, "4.5.3 Too many recipients").too_many
    assert classify_rcpt(452, "Too many recipients received this hour").too_many


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4.2.0 Greylisted, please retry in 2 seconds", 2.0),
        ("try again in 300s", 300.0),
        ("Greylisted for 5 minutes", 300.0),
        ("Greylisted", None),
    ],
)
def test_retry_delay(text: str, seconds: float | None) -> None:
    assert retry_delay(text) == seconds


def test_session_level_refusals() -> None:
    assert classify_session(554, "5.7.1 Your IP is listed at Spamhaus").reason == "blocked"
    assert classify_session(421, "Too busy").reason == "smtp_unavailable"
    assert classify_session(451, "4.7.1 Greylisted, try again later").retry
