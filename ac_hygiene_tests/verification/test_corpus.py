"""Every documented real-world reply of the corpus gets the verdict its words support."""

from __future__ import annotations

from collections import Counter

import pytest

from ac_hygiene.verification import classify_rcpt
from ac_hygiene.verification.replies import classify_session
from ac_hygiene_tests.verification.corpus import CORPUS, SENDER, Reply

PROVIDERS = (
    "Gmail", "Microsoft 365", "Outlook.com", "Yahoo", "AOL", "iCloud", "Zoho", "GMX", "Mimecast",
    "Proofpoint", "Barracuda", "Postfix", "Exim", "Sendmail", "Dovecot",
)  # fmt: skip


def _id(reply: Reply) -> str:
    return f"{reply.provider}: {reply.raw[:60]}"


@pytest.mark.parametrize("reply", CORPUS, ids=_id)
def test_corpus_verdict(reply: Reply) -> None:
    classify = classify_rcpt if reply.stage == "rcpt" else classify_session
    verdict = classify(reply.code, reply.text, SENDER)
    assert (verdict.status, verdict.reason) == reply.expected, reply.documented


def test_corpus_size_and_coverage() -> None:
    assert len(CORPUS) >= 60
    assert len({reply.raw for reply in CORPUS}) == len(CORPUS), "duplicate texts"
    providers = Counter(reply.provider.split(" (")[0] for reply in CORPUS)
    assert set(PROVIDERS) <= set(providers), set(PROVIDERS) - set(providers)
    assert all(reply.documented.count("http") >= 1 for reply in CORPUS)


def test_sender_rejections_are_unknown_whatever_their_code() -> None:
    """The issue's example: Postfix's sender check answered at RCPT, with a 5.1.0 code."""
    for code, text in (
        (550, "5.1.0 <probe@verify.example>: Sender address rejected: Domain not found"),
        (550, "5.1.1 <probe@verify.example>: Sender address rejected: User unknown"),
        (554, "5.7.1 <probe@verify.example>: Sender address rejected: Access denied"),
    ):
        assert classify_rcpt(code, text).reason == "sender_rejected"
        assert classify_rcpt(code, text).status == "unknown"
    # Naming our MAIL FROM is enough, whatever the words.
    assert classify_rcpt(550, "5.1.1 <probe@verify.example> no good", SENDER).reason == (
        "sender_rejected"
    )


def test_a_bare_5_1_0_is_not_no_such_mailbox() -> None:
    assert classify_rcpt(550, "5.1.0 Address rejected").status == "unknown"
    assert classify_rcpt(550, "5.1.0 <x@example.com>: User unknown").status == "undeliverable"


def test_a_5_7_x_that_says_the_user_does_not_exist_is_not_found() -> None:
    assert classify_rcpt(550, "5.7.1 <x@example.com>: User unknown").reason == "mailbox_not_found"
    assert classify_rcpt(550, "5.7.1 <x@example.com>: Access denied").reason == "blocked"
