"""What an SMTP reply to RCPT TO (or to the commands before it) says about the address.

Kept apart from the protocol code so the interpretation reads as one table and can be tested
against real servers' wording (`ac_hygiene_tests/verification/corpus.py`: 60+ documented replies
of Gmail, Microsoft 365, Yahoo, iCloud, Postfix, Exim, Sendmail, ...). An "undeliverable" verdict
unsubscribes a contact, so a reply only counts against the mailbox when its words are about the
mailbox. The rules, first match wins:

| reply                                                     | status        | reason            |
|-----------------------------------------------------------|---------------|-------------------|
| 250 / 251                                                 | deliverable   | accepted          |
| 421                                                       | unknown       | smtp_unavailable  |
| 452 4.5.3 / "too many recipients"                         | (new session) | -                 |
| about our sender: "Sender address rejected", "sender      | unknown       | sender_rejected   |
| verify failed", "Sender denied", callouts, our MAIL FROM  |               |                   |
| about our client, HELO, relaying, a blocklist or a policy | unknown       | blocked           |
| 552, x.2.2, "mailbox full", "quota exceeded"              | risky         | mailbox_full      |
| 55x + 5.1.1, 5.1.10, 5.1.6, 5.2.1, or definite wording    | undeliverable | mailbox_not_found |
| ("User unknown", "Unrouteable address", "This user        |  (only once   |                   |
| doesn't have a ... account", "mailbox unavailable", ...)  |  confirmed *) |                   |
| any other 5.7.x                                           | unknown       | blocked           |
| 450 / 451 / 4.7.x / "greylist"                            | (retried)     | greylisted        |
| anything else (a bare 550, a bare 5.1.0 "other address    | unknown       | smtp_error        |
| status", 5.1.2 / 5.1.3 about the domain or the syntax)    |               |                   |

The sender and client rules come first "whatever their enhanced code": Postfix evaluates sender
restrictions at RCPT time by default (`smtpd_delay_reject = yes`), so `550 5.1.0 <probe@...>:
Sender address rejected: Domain not found` arrives as the answer to the recipient. A 5.7.x whose
text plainly says the user does not exist is a "not found" like any other.

(*) `mailbox_not_found` here is provisional: `smtp` keeps it only when the same session showed
that the server tells mailboxes apart (postmaster@ or another address of the domain accepted);
otherwise the address is unknown `rejects_all`.
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
# Definite "there is no such mailbox" wording, as the MTAs of the corpus write it.
_NO_MAILBOX = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address|account)|"
    r"(mailbox|user|recipient|address|account|e-?mail)( \S+)? (does not|doesn'?t|did not) exist|"
    r"(mailbox|user|recipient|address) (was )?not found|recipient ?not ?found|"
    r"unknown (recipient|mailbox|address)|invalid (recipient|mailbox)|"
    r"unrouteable address|mailbox unavailable|not a valid (mailbox|recipient|user)|"
    r"no mailbox|undeliverable address|"
    r"user doesn'?t have an? \S+ account|doesn'?t have an? \S+ account|"
    r"account (is |has been )?(disabled|deactivated|inactive|suspended)|"
    r"mailbox (is )?(disabled|inactive)|this mailbox is disabled|"
    r"address rejected: (user unknown|access denied\. as\()|"
    r"recipientnotfound|no such person|user not found|not our customer",
    re.IGNORECASE,
)
# 5.1.1 bad mailbox, 5.1.10 Microsoft's "recipient not found", 5.1.6 mailbox moved, 5.2.1
# mailbox disabled. Not 5.1.0 ("other address status"): it needs the wording as well.
_NO_MAILBOX_CODES = frozenset({(1, 1), (1, 10), (1, 6), (2, 1)})
# 552 too: Yahoo answers "552 1 Requested mail action aborted, mailbox not found".
_NOT_FOUND_REPLY_CODES = frozenset({550, 551, 552, 553, 554})
_FULL = re.compile(
    r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (its|the) (storage|quota)|"
    r"insufficient storage|out of storage|full mailbox|exceeded storage allocation|"
    r"user is over (the )?quota",
    re.IGNORECASE,
)
# About our envelope sender, not the recipient (Postfix smtpd_sender_restrictions evaluated at
# RCPT, Exim sender verification and callouts, Sendmail's access map on the sender).
_SENDER = re.compile(
    r"sender address rejected|sender verify failed|sender verification|sender denied|"
    r"sender (address )?(is )?(rejected|refused|blocked|not allowed|unknown|not)|"
    r"verification failed for <|callout|unverified sender|invalid sender|bad sender|"
    r"mail from (address )?(rejected|refused|denied)|envelope (sender|from)|"
    r"return[- ]path|domain of sender|sender domain|from address|your address",
    re.IGNORECASE,
)
# About our client, its HELO, relaying or a policy: says nothing about the mailbox.
_BLOCKED = re.compile(
    r"block|spamhaus|spamcop|barracuda|sorbs|\brbl\b|\bdnsbl\b|blacklist|denylist|"
    r"reputation|banned|not allowed to send|policy|client host|helo|ehlo|"
    r"reverse (dns|hostname|lookup)|\brdns\b|\bptr\b|your ip|ip address|"
    r"relay(ing)? (access )?(denied|not permitted|disallowed|prohibited)|unable to relay|"
    r"as a relay|open relay|relaying|rcpthosts|does not relay|dynamic(ally)?[- ]assigned|"
    r"(messages|mail|connections) from \\[?[0-9]|"
    r"access denied|spam|unsolicited|authenticat|\bspf\b|dmarc|dkim|rate limit|"
    r"too many (connections|messages|errors)|\b(is|are|been|currently) listed\b|"
    r"listed (at|on|by)\b|not permitted|prohibit|unauthori[sz]ed|refused",
    re.IGNORECASE,
)
# Microsoft 365 Directory-Based Edge Blocking: the recipient is not in the tenant's directory,
# written as "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)".
_M365_DBEB = re.compile(r"recipient address rejected: access denied\. as\(", re.IGNORECASE)
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


def about_sender(text: str, sender: str = "") -> bool:
    """The reply is about our envelope sender (its wording, or it names our MAIL FROM)."""
    return bool(_SENDER.search(text)) or bool(sender and sender.lower() in text.lower())


def about_client(text: str) -> bool:
    """The reply is about our client, HELO, relaying or a policy (not Microsoft's DBEB)."""
    return bool(_BLOCKED.search(text)) and not _M365_DBEB.search(text)


def says_no_mailbox(code: int, text: str) -> bool:
    """A 55x whose enhanced code or wording says the mailbox does not exist."""
    if code not in _NOT_FOUND_REPLY_CODES:
        return False
    enhanced = enhanced_code(text)
    if enhanced is not None and enhanced[1:] in _NO_MAILBOX_CODES:
        return True
    return bool(_NO_MAILBOX.search(text)) or bool(_M365_DBEB.search(text))


def classify_rcpt(code: int, text: str, sender: str = "") -> Verdict:
    """The verdict on an address from the reply to its RCPT TO (`sender`: our MAIL FROM)."""
    enhanced = enhanced_code(text)
    subject = enhanced[1:] if enhanced else None
    if code in (250, 251):
        return Verdict(DELIVERABLE, "accepted")
    if code == 421:
        return Verdict(UNKNOWN, "smtp_unavailable")
    if code == 452 and (subject == (5, 3) or _TOO_MANY.search(text)):
        return Verdict(UNKNOWN, "smtp_error", too_many=True)
    if not 400 <= code < 600:
        return Verdict(UNKNOWN, "smtp_error")
    if about_sender(text, sender):
        return Verdict(UNKNOWN, "sender_rejected")
    if code >= 500 and about_client(text):
        return Verdict(UNKNOWN, "blocked")
    if (
        subject == (2, 2)
        or _FULL.search(text)
        or (code == 552 and subject is None and not _NO_MAILBOX.search(text))
    ):
        return Verdict(RISKY, "mailbox_full")
    if code >= 500:
        if says_no_mailbox(code, text):
            return Verdict(UNDELIVERABLE, "mailbox_not_found")
        if subject is not None and subject[0] == 7:
            return Verdict(UNKNOWN, "blocked")
        return Verdict(UNKNOWN, "smtp_error")
    if _GREYLIST.search(text) or code in (450, 451) or (subject is not None and subject[0] == 7):
        if about_client(text) and not _GREYLIST.search(text):
            return Verdict(UNKNOWN, "blocked")
        return Verdict(UNKNOWN, "greylisted", retry=True)
    return Verdict(UNKNOWN, "smtp_error")


def classify_session(code: int, text: str, sender: str = "") -> Verdict:
    """The verdict on every address of a session whose banner, EHLO or MAIL FROM failed."""
    if 400 <= code < 500:
        if code != 421 and _GREYLIST.search(text):
            return Verdict(UNKNOWN, "greylisted", retry=True)
        if code != 421 and about_sender(text, sender):
            return Verdict(UNKNOWN, "sender_rejected")
        return Verdict(UNKNOWN, "smtp_unavailable")
    if about_sender(text, sender):
        return Verdict(UNKNOWN, "sender_rejected")
    enhanced = enhanced_code(text)
    if (enhanced is not None and enhanced[1] == 7) or _BLOCKED.search(text) or code == 554:
        return Verdict(UNKNOWN, "blocked")
    return Verdict(UNKNOWN, "smtp_error")
