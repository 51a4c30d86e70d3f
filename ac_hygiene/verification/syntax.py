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

Parsing is email-validator's, with one shortcut: nearly every address of a real list is plain
ASCII (`first.last@company.com`), which email-validator accepts unchanged up to case, yet its
general route (a Unicode normalization per character, UTS-46 mapping) costs ~100 µs an address.
`_plain_split` recognizes that shape with one regular expression built from email-validator's own
character classes and limits, and returns what email-validator would; anything else (Unicode,
quotes, `--` in the domain, an over-long address...) takes the reference route. The shortcut only
ever accepts what email-validator accepts, with the same normalization (property-tested against
it in `ac_hygiene_tests/verification/test_syntax.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import email_validator
from email_validator import EmailNotValidError, validate_email

# RFC 5321 limits a path to 256 octets; anything far longer is refused before parsing so that a
# 10 MB "address" costs nothing (email-validator would normalize the whole string first).
MAX_INPUT_CHARS = 1_000

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


# The shortcut's shape, from email-validator's rules for an unquoted ASCII address:
# - local part: RFC 5322 dot-atom of its ATEXT (`rfc_constants.DOT_ATOM_TEXT`), returned as is;
# - domain: hostname labels (`rfc_constants.HOSTNAME_LABEL`: letters, digits, inner hyphens), at
#   least two (globally deliverable needs a period), the last one ending with a letter (TLDs do),
#   each at most 63 characters (checked in `_plain_split`). No `--` anywhere, which leaves out
#   Punycode (`xn--`, decoded and re-checked by IDNA) and RFC 5890's reserved `ab--` labels;
# - ASCII only (no IGNORECASE: `[a-z]` must not match the Kelvin sign), so UTS-46 mapping is just
#   lower-casing and NFC changes nothing; no `"` or `<` (no quoting, no display name).
_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PLAIN_ADDRESS = re.compile(
    rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@((?:{_LABEL}\.)+(?:[a-zA-Z0-9][a-zA-Z0-9-]*)?[a-zA-Z])"
)
_EMAIL_MAX_LENGTH = 254  # email-validator's limit on the whole address (RFC 3696 errata)
_DOMAIN_MAX_LENGTH = 253
_LABEL_MAX_LENGTH = 63


def _plain_split(text: str) -> tuple[str, str] | None:
    """(local part, domain), lower-cased, when `text` is a plain ASCII address that
    email-validator accepts as written; None when it is not (or not surely) one.

    For such an address email-validator returns the local part as written (lower-cased when it is
    an RFC 2142 role name) and the domain lower-cased (UTS-46 maps A-Z to a-z): `parse_address`
    lower-cases both, so the two routes give the same `ParsedAddress`.
    """
    if not text.isascii() or len(text) > _EMAIL_MAX_LENGTH:
        return None
    match = _PLAIN_ADDRESS.fullmatch(text)
    if match is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    if "--" in domain or len(domain) > _DOMAIN_MAX_LENGTH:
        return None
    if any(len(label) > _LABEL_MAX_LENGTH for label in domain.split(".")):
        return None
    # Special-use names (`localhost`, `*.test`, `*.invalid`...), read at call time like
    # email-validator does, since its list is a module attribute callers may change.
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        if domain == name or domain.endswith("." + name):
            return None
    return local.lower(), domain


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
    plain = _plain_split(text)
    if plain is not None:
        return _parsed(*plain)
    return _validated(text)


def _validated(text: str) -> ParsedAddress | None:
    """email-validator's verdict on a stripped, not over-long input (the reference route)."""
    try:
        valid = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            globally_deliverable=True,
        )
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
