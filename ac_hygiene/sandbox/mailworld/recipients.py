"""What the world's mail servers answer to RCPT TO: the rules of DESIGN.md in one place.

Kept apart from the SMTP protocol code so that the replies (the thing a verifier interprets) read
as a table, and so that the greylist memory is shared by every host of a world, as a provider's
greylisting is shared by its MX hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ac_hygiene.sandbox.mailworld.names import split_address
from ac_hygiene.sandbox.mailworld.world import Listener, Mailbox, MailWorld

ACCEPTED = "250 2.1.5 OK"  # the default `replies.accepted` (world.DEFAULT_REPLIES)
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
RELAYING_DENIED = "550 5.7.1 Relaying denied"
BLOCKED = "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
MAILBOX_FULL = "552 5.2.2 Mailbox full"  # the default `replies.full`
BAD_ADDRESS = "501 5.1.3 Bad recipient address syntax"
CANNOT_VRFY = "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery"


def user_unknown(address: str) -> str:
    return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def greylisted(seconds: float) -> str:
    shown = int(seconds) if float(seconds).is_integer() else seconds
    return f"450 4.2.0 Greylisted, please retry in {shown} seconds"


class RecipientPolicy:
    """Decides the reply to one RCPT TO, remembering first attempts for greylisting.

    Greylisting is keyed on (client address, recipient): a verifier that retries the same
    recipient from the same address after the delay gets through, as with postgrey.
    """

    def __init__(self, world: MailWorld, *, clock: Callable[[], float] = time.monotonic):
        self._world = world
        self._clock = clock
        self._first_attempt: dict[tuple[str, str], float] = {}

    def reply(
        self, listener: Listener, client_ip: str, address: str, rcpt_number: int, sender: str = ""
    ) -> str:
        """The SMTP reply for the `rcpt_number`-th RCPT of a session on `listener`.

        Order: recipient cap, syntax, relaying, block, the sender check (answered at RCPT, as
        Postfix does), greylisting, a server that rejects all, then the mailbox itself.
        """
        if listener.max_recipients is not None and rcpt_number > listener.max_recipients:
            return TOO_MANY_RECIPIENTS
        parts = split_address(address)
        if parts is None:
            return BAD_ADDRESS
        local, domain_name = parts
        domain = self._world.domains.get(domain_name)
        if domain is None or domain_name not in listener.domains:
            return RELAYING_DENIED
        if domain.block:
            return BLOCKED
        if domain.sender_reject is not None:
            return domain.sender_reject.replace("{sender}", sender)
        if domain.greylist_seconds:
            now = self._clock()
            first = self._first_attempt.setdefault((client_ip, f"{local}@{domain_name}"), now)
            if now - first < domain.greylist_seconds:
                return greylisted(domain.greylist_seconds)
        if domain.rejects_all:
            return domain.reply("unknown", address)
        verdict = domain.classify(local)
        if verdict is Mailbox.FULL:
            return domain.reply("full", address)
        if verdict is Mailbox.UNKNOWN:
            return domain.reply("unknown", address)
        return domain.reply("accepted", address)
