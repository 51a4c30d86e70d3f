"""What an SMTP reply to RCPT TO (or to the commands before it) says about the address.

Kept apart from the protocol code so the interpretation reads as one table and can be tested
against real servers' wording. Policy, after the commercial verifiers (see
shared/reference/email-verification.md):

| reply                                                  | status        | reason            |
|--------------------------------------------------------|---------------|-------------------|
| 250 / 251                                              | deliverable   | accepted          |
| 550/551/553 + 5.1.x, 5.2.1 or "user unknown"-like text | undeliverable | mailbox_not_found |
| 552, 452 4.2.2, x.2.2 "mailbox full"                   | risky         | mailbox_full      |
| 5.7.x, "blocked", "spamhaus", blocklists               | unknown       | blocked           |
| 450 / 451 / 4.7.x / "greylist"                         | (retried)     | greylisted        |
| 452 4.5.3 / "too many recipients"                      | (new session) | -                 |
| 421                                                    | unknown       | smtp_unavailable  |
| anything else                                          | unknown       | smtp_error        |

A block is about the prober's address, not the mailbox, so it is never undeliverable; a bare 550
without a mailbox hint is likewise not trusted to mean "no such user".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DELIVERABLE = "deliverable"
UNDELIVERABLE = "undeliverable"
RISKY = "risky"
UNKNOWN = "unknown"

# RFC 3463 / RFC 2034: the enhanced code opens the reply text ("550 5.1.1 ..."); old Exchange
# writes "#5.1.0". Only there: an address in the text ("Client host [5.1.1.9] blocked") is not one.
_ENHANCED = re.compile(r"#?([245])\.([0-9]{1,3})\.([0-9]{1,3})(?![0-9]|\.[0-9])")
_NO_MAILBOX = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|"
    r"(mailbox|user|recipient|address|account)( \S+)? (does not|doesn'?t) exist|"
    r"(mailbox|recipient|user) not found|unknown recipient|invalid recipient|"
    r"recipient (address )?rejected|mailbox unavailable|not a valid mailbox|"
    r"no mailbox|undeliverable address|account (is )?disabled",
    re.IGNORECASE,
)
# 5.1.1 bad mailbox, 5.1.0 other address status, 5.1.6 mailbox moved, 5.2.1 mailbox disabled.
_NO_MAILBOX_CODES = ((1, 1), (1, 0), (1, 6), (2, 1))
_FULL = re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage", re.I)
_BLOCKED = re.compile(
    r"block|spamhaus|spamcop|barracuda|\brbl\b|\bdnsbl\b|blacklist|denylist|reputation|"
    r"banned|poor reputation|not allowed to send|rejected by policy|policy",
    re.IGNORECASE,
)
_GREYLIST = re.compile(r"grey ?list|gray ?list|try again later|retry later|temporar", re.I)
_TOO_MANY = re.compile(r"too many recipients", re.IGNORECASE)
_DELAY = re.compile(
    r"(\d+(?:\.\d+)?)\s*(s\b|secs?\b|seconds?\b|m\b|mins?\b|minutes?\b)", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The meaning of one reply; `retry` / `too_many` ask the prober to try again."""

    status: str
    reason: str
    retry: bool = False  # greylisting: the same RCPT later, from the same address
    too_many: bool = False  # per-session recipient cap: the rest in a new session


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 enhanced status code (`5.1.1`) at the start of a reply's text, if any."""
    match = _ENHANCED.match(text.lstrip())
    if match is None:
        return None
    klass, subject, detail = (int(group) for group in match.groups())
    return klass, subject, detail


def retry_delay(text: str) -> float | None:
    """The delay a greylisting server asks for ("retry in 300 seconds", "wait 5 minutes")."""
    match = _DELAY.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value * 60 if match.group(2).lower().startswith("m") else value


def classify_rcpt(code: int, text: str) -> Verdict:
    """The verdict on an address from the reply to its RCPT TO."""
    enhanced = enhanced_code(text)
    subject = enhanced[1:] if enhanced else None
    if code in (250, 251):
        return Verdict(DELIVERABLE, "accepted")
    if code == 421:
        return Verdict(UNKNOWN, "smtp_unavailable")
    if code == 452 and (subject == (5, 3) or _TOO_MANY.search(text)):
        return Verdict(UNKNOWN, "smtp_error", too_many=True)
    if 400 <= code < 600 and (
        subject == (2, 2) or _FULL.search(text) or (code == 552 and subject is None)
    ):
        return Verdict(RISKY, "mailbox_full")
    if 500 <= code < 600:
        if code in (550, 551, 553) and subject in _NO_MAILBOX_CODES:
            return Verdict(UNDELIVERABLE, "mailbox_not_found")
        if (subject is not None and subject[0] == 7) or _BLOCKED.search(text):
            return Verdict(UNKNOWN, "blocked")
        if code in (550, 551, 553) and _NO_MAILBOX.search(text):
            return Verdict(UNDELIVERABLE, "mailbox_not_found")
        return Verdict(UNKNOWN, "smtp_error")
    if 400 <= code < 500 and (
        code in (450, 451) or _GREYLIST.search(text) or (subject is not None and subject[0] == 7)
    ):
        return Verdict(UNKNOWN, "greylisted", retry=True)
    return Verdict(UNKNOWN, "smtp_error")


def classify_session(code: int, text: str) -> Verdict:
    """The verdict on every address of a session whose banner, EHLO or MAIL FROM failed."""
    if 400 <= code < 500:
        if code != 421 and _GREYLIST.search(text):
            return Verdict(UNKNOWN, "greylisted", retry=True)
        return Verdict(UNKNOWN, "smtp_unavailable")
    enhanced = enhanced_code(text)
    if (enhanced is not None and enhanced[1] == 7) or _BLOCKED.search(text) or code == 554:
        return Verdict(UNKNOWN, "blocked")
    return Verdict(UNKNOWN, "smtp_error")
