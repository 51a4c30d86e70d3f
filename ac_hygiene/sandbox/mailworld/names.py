"""Normalization of domain names and local parts, shared by the world, DNS and SMTP servers.

The world file, DNS queries and SMTP commands spell the same name in different ways (`Bücher.DE`,
`xn--bcher-kva.de.`, `JÜRGEN`); comparing them only ever through these functions is what makes the
three agree.
"""

from __future__ import annotations

import re
import unicodedata

import idna

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class InvalidName(ValueError):
    """A domain or host name that cannot exist in DNS."""


def normalize_domain(name: str) -> str:
    """Return the lower-case ASCII (IDNA, UTS #46) form of a domain name, without a trailing dot.

    ASCII names are kept as they are (lower-cased) so that DNS-only labels such as `_dmarc`, which
    IDNA refuses, still work; any other name goes through IDNA 2008 with UTS #46 mapping, so
    `Bücher.de` and `xn--bcher-kva.de` are the same key.
    """
    text = name.strip().rstrip(".")
    if not text:
        raise InvalidName("empty domain name")
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise InvalidName(
                f"{name!r} is not a valid internationalized domain name: {error}"
            ) from error
    text = text.lower()
    if len(text) > 253:
        raise InvalidName(f"{name!r} is longer than 253 characters")
    bad = [label for label in text.split(".") if not _LABEL.match(label)]
    if bad:
        raise InvalidName(f"{name!r} has an invalid label {bad[0]!r}")
    return text


def normalize_local_part(local: str) -> str:
    """Return the comparison form of a local part: NFC, case-folded.

    Real servers compare mailboxes case-insensitively; NFC makes a composed and a decomposed `ü`
    the same mailbox, as email-validator's normalization does.
    """
    return unicodedata.normalize("NFC", local).casefold()


def split_address(address: str) -> tuple[str, str] | None:
    """Split `local@domain` into (normalized local part, domain), or None if malformed."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    try:
        return normalize_local_part(local), normalize_domain(domain)
    except InvalidName:
        return None
