"""Layer 1: syntax and normalization, with email-validator as the reference parser.

Two keys come out of an address, because they answer two different questions:

- `dedup_key` (billing): the address trimmed and lower-cased, nothing more. The product charges
  one credit per distinct address of an upload, and its published rule is "case-insensitive,
  trimmed, not provider-aware": `a.b@gmail.com` and `ab@gmail.com` are two contacts, two credits.
- `email_normalized` (cache and probing): the mailbox the address reaches. The domain is in IDNA
  (ASCII) form and lower case (DNS is case-insensitive); the local part is NFC (email-validator)
  and lower-cased, because although RFC 5321 lets a server treat local parts case-sensitively,
  practically every provider does not, and two spellings must not cost two SMTP probes. Where a
  provider documents that it ignores parts of the local part, the canonical form drops them:

  - Gmail (gmail.com, googlemail.com): dots are ignored and `+tag` is dropped; googlemail.com is
    the same mailbox at gmail.com. Google Help, "Dots don't matter in Gmail addresses"
    (support.google.com/mail/answer/7436150) and "Create task-specific email addresses"
    (support.google.com/mail/answer/12096).
  - Outlook.com / Hotmail / Live / MSN: `+tag` is dropped (Microsoft, "Plus addressing" for
    Outlook.com and Exchange Online). Dots are significant there.
  - Fastmail: `+tag` (Fastmail help, "Plus addressing and subdomain addressing").
  - Proton (proton.me, protonmail.com/.ch, pm.me): `+tag` (Proton support, "Address aliases").
  - Yahoo: left alone. Its `name-keyword` form is a separate disposable address the user
    created; it may be deleted independently of the base mailbox.

Parsing is email-validator's, with one shortcut. Its general route costs ~25 µs an address
(~100 µs with an internationalized domain: a Unicode normalization per character, UTS-46 and IDNA),
yet a list has few distinct domains and nearly every local part is plain ASCII
(`first.last+tag`), which email-validator returns as written. So when the local part is a plain
dot-atom (email-validator's own `DOT_ATOM_TEXT`), the domain is judged once per distinct domain by
email-validator itself (`_domain_forms`, memoized) and only the length limits are checked per
address; any other input takes the reference route. The shortcut gives what email-validator gives,
verdict and normalization (property-tested against it in
`ac_hygiene_tests/verification/test_syntax.py`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT

# RFC 5321 limits a path to 256 octets; anything far longer is refused before parsing so that a
# 10 MB "address" costs nothing (email-validator would normalize the whole string first).
MAX_INPUT_CHARS = 1_000

_OPTIONS: dict[str, Any] = {
    "check_deliverability": False,
    "allow_smtputf8": True,
    "allow_quoted_local": False,
    "allow_domain_literal": False,
    "allow_display_name": False,
    "globally_deliverable": True,
}

_GMAIL = frozenset({"gmail.com", "googlemail.com"})
_PLUS_TAG_PROVIDERS = frozenset(
    {
        *_GMAIL,
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "fastmail.com",
        "fastmail.fm",
        "proton.me",
        "protonmail.com",
        "protonmail.ch",
        "pm.me",
    }
)


# email-validator's limit on the whole address, in UTF-8 octets (RFC 3696 errata), checked on
# the input, the normalized form and the IDNA ASCII form.
_EMAIL_MAX_LENGTH = 254
_DOMAIN_MEMO = 4_096


@functools.lru_cache(maxsize=_DOMAIN_MEMO)
def _domain_forms(domain_part: str, _special_use: tuple[str, ...]) -> tuple[str, int] | None:
    """(ASCII domain, longest UTF-8 length of its forms) if email-validator accepts `domain_part`
    after a plain local part, else None. `_special_use` is email-validator's special-use list
    (a module attribute callers may change), part of the memo key so a change is honoured.

    The verdict comes from email-validator on `a@<domain_part>`: the domain is validated on its
    own there (split at the first `@`, whatever precedes it, as long as it is a plain dot-atom),
    and an address that fails the length limit with a one-letter local part fails it with any.
    """
    try:
        valid = validate_email(f"a@{domain_part}", **_OPTIONS)
    except (EmailNotValidError, UnicodeError, ValueError):
        return None
    longest = max(
        len(form.encode("utf-8")) for form in (domain_part, valid.domain, valid.ascii_domain)
    )
    return valid.ascii_domain, longest


def _plain(text: str) -> ParsedAddress | bool | None:
    """The shortcut: the ParsedAddress (or None, invalid) when the local part is a plain dot-atom,
    False when the reference route must decide.

    For such a local part email-validator's answer is: the local part as written (lower-cased if
    an RFC 2142 role name; `_parsed` lower-cases it anyway), the verdict and ASCII form of the
    domain part (independent of the local part), and the length limit on the whole address.
    """
    local, at, domain_part = text.partition("@")
    if not at or not DOT_ATOM_TEXT.match(local):
        return False
    if email_validator.STRICT or email_validator.TEST_ENVIRONMENT:
        return False  # process-wide defaults the shortcut does not model
    forms = _domain_forms(domain_part, tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES))
    if forms is None:
        return None
    ascii_domain, longest = forms
    if len(local) + 1 + longest > _EMAIL_MAX_LENGTH:
        return None
    return _parsed(local.lower(), ascii_domain.lower())


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """A syntactically valid address, split and normalized."""

    local_part: str  # as written, lower-cased and NFC (role accounts are matched on it)
    domain: str  # where the mail goes: IDNA (ASCII), lower-case, googlemail.com -> gmail.com
    email_normalized: str  # provider-canonical mailbox: the cache key
    rcpt_address: str  # what RCPT TO names: the +tag dropped, the dots kept (any server agrees)
    smtputf8: bool  # the local part is not ASCII: RCPT needs the SMTPUTF8 extension


def dedup_key(email: str | None) -> str | None:
    """The billing de-duplication key: trimmed and lower-cased; None for no address at all."""
    if email is None:
        return None
    key = email.strip().lower()
    return key or None


def canonical_local_part(local_part: str, domain: str, *, drop_dots: bool = True) -> str:
    """The local part as the provider delivers it (see the module docstring for sources).

    `drop_dots=False` gives the form to probe with: Gmail ignores the dots either way, and a
    server that is not really Gmail (a test double, a misconfigured MX) is not misled.
    """
    if domain in _PLUS_TAG_PROVIDERS:
        base, plus, _tag = local_part.partition("+")
        # "+tag" alone (empty base) is not a canonical mailbox: keep it as written.
        if plus and base:
            local_part = base
    if drop_dots and domain in _GMAIL:
        local_part = local_part.replace(".", "") or local_part
    return local_part


def canonical_domain(domain: str) -> str:
    """googlemail.com is Gmail's former name: the same mailboxes live at gmail.com."""
    return "gmail.com" if domain == "googlemail.com" else domain


def parse_address(email: str | None) -> ParsedAddress | None:
    """The parsed address, or None when it is not a deliverable-looking address at all.

    Never raises: the engine gives every input a row, whatever bytes it holds.
    """
    if not isinstance(email, str):
        return None
    text = email.strip()
    if not text or len(text) > MAX_INPUT_CHARS:
        return None
    plain = _plain(text)
    if plain is not False:
        return plain
    return _validated(text)


def _validated(text: str) -> ParsedAddress | None:
    """email-validator's verdict on a stripped, not over-long input (the reference route)."""
    try:
        valid = validate_email(text, **_OPTIONS)
    except EmailNotValidError:
        return None
    except (UnicodeError, ValueError):
        # email-validator's own checks catch nearly everything; this covers codec errors from
        # the IDNA layer on exotic input, which must read as "invalid", not crash the batch.
        return None
    return _parsed(valid.local_part.lower(), valid.ascii_domain.lower())


def _parsed(local: str, domain: str) -> ParsedAddress:
    """The ParsedAddress of a valid address's lower-cased local part and ASCII domain."""
    mail_domain = canonical_domain(domain)
    canonical = f"{canonical_local_part(local, domain)}@{mail_domain}"
    return ParsedAddress(
        local_part=local,
        domain=mail_domain,
        email_normalized=canonical,
        rcpt_address=f"{canonical_local_part(local, domain, drop_dots=False)}@{mail_domain}",
        smtputf8=not local.isascii(),
    )
