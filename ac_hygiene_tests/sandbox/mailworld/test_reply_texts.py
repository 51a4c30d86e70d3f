"""World keys for real servers' wording: per-domain reply texts, sender rejects, postmaster."""

from __future__ import annotations

import pytest

from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, WorldError
from ac_hygiene_tests.sandbox.mailworld.support import rcpt_replies

M365_UNKNOWN = (
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {address} not found by SMTP "
    "address lookup"
)
GMAIL_UNKNOWN = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550 5.1.1 double-checking the recipient's email address for typos. - gsmtp"
)


def world() -> MailWorld:
    return MailWorld.from_dict(
        {
            "domains": {
                "contoso.com": {
                    "mx": [[0, "contoso-com.mail.protection.outlook.com"]],
                    "mailboxes": ["ann"],
                    "full_mailboxes": ["max"],
                    "replies": {
                        "unknown": M365_UNKNOWN,
                        "accepted": "250 2.1.5 Recipient OK",
                        "full": "452 4.2.2 The recipient's mailbox is full",
                    },
                },
                "gmail.com": {
                    "mx": [[5, "gmail-smtp-in.l.google.com"]],
                    "mailboxes": ["bob"],
                    "replies": {"unknown": GMAIL_UNKNOWN},
                },
                "strict.org": {
                    "mx": [[10, "mx.strict.org"]],
                    "mailboxes": ["carl"],
                    "sender_reject": (
                        "550 5.1.0 <{sender}>: Sender address rejected: Domain not found"
                    ),
                },
                "hidden.net": {
                    "mx": [[10, "mx.hidden.net"]],
                    "mailboxes": ["dora"],
                    "rejects_all": True,
                    "postmaster": False,
                },
                "nopm.net": {
                    "mx": [[10, "mx.nopm.net"]],
                    "mailboxes": ["eve"],
                    "postmaster": False,
                },
            }
        }
    )


def test_domains_answer_in_their_providers_words() -> None:
    with MailWorldServer(world()).run_in_thread() as running:
        contoso = rcpt_replies(
            running,
            "contoso-com.mail.protection.outlook.com",
            ["ann@contoso.com", "ghost@contoso.com", "max@contoso.com", "postmaster@contoso.com"],
        )
        gmail = rcpt_replies(running, "gmail-smtp-in.l.google.com", ["nobody.here@gmail.com"])
        strict = rcpt_replies(running, "mx.strict.org", ["carl@strict.org", "x@strict.org"])
        hidden = rcpt_replies(
            running, "mx.hidden.net", ["dora@hidden.net", "postmaster@hidden.net"]
        )
        nopm = rcpt_replies(running, "mx.nopm.net", ["eve@nopm.net", "postmaster@nopm.net"])
    assert contoso == [
        (250, "2.1.5 Recipient OK"),
        (550, M365_UNKNOWN[4:].replace("{address}", "ghost@contoso.com")),
        (452, "4.2.2 The recipient's mailbox is full"),
        (250, "2.1.5 Recipient OK"),  # postmaster is accepted by default (RFC 5321 4.5.1)
    ]
    code, text = gmail[0]
    assert code == 550 and text.splitlines() == [
        "5.1.1 The email account that you tried to reach does not exist. Please try",
        "5.1.1 double-checking the recipient's email address for typos. - gsmtp",
    ]
    # The sender check answers every RCPT, about our MAIL FROM, even for a mailbox that exists.
    sender_reply = (
        550,
        "5.1.0 <probe@verifier.example>: Sender address rejected: Domain not found",
    )
    assert strict == [sender_reply, sender_reply]
    assert [c for c, _ in hidden] == [550, 550]
    assert [c for c, _ in nopm] == [250, 550]


def test_world_validates_the_new_keys() -> None:
    world()  # the good ones load
    bad = {
        "a.com": {"mx": [[1, "mx.a.com"]], "replies": {"unknow": "550 x"}},
        "b.com": {"mx": [[1, "mx.b.com"]], "replies": {"unknown": "250 fine"}},
        "c.com": {"mx": [[1, "mx.c.com"]], "replies": {"accepted": "250-first\n251 second"}},
        "d.com": {"mx": [[1, "mx.d.com"]], "sender_reject": "no code"},
        "e.com": {"mx": [[1, "mx.e.com"]], "postmaster": "yes"},
        "f.com": {"nxdomain": True, "rejects_all": True},
    }
    with pytest.raises(WorldError) as error:
        MailWorld.from_dict({"domains": bad})
    message = str(error.value)
    for where in ("a.com.replies", "b.com.replies.unknown", "c.com.replies.accepted",
                  "d.com.sender_reject", "e.com.postmaster", "f.com"):  # fmt: skip
        assert where in message, where
    assert "did you mean 'unknown'" in message
