"""Syntax and the two normalization keys (billing dedup vs cache/probe)."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ac_hygiene.sandbox.activecampaign import generate_account
from ac_hygiene.verification import (
    VerificationSettings,
    dedup_key,
    parse_address,
    syntax,
    verify_emails,
)


@pytest.mark.parametrize(
    ("email", "normalized"),
    [
        ("  Alice@ACME.com ", "alice@acme.com"),
        ("First.Last+news@gmail.com", "firstlast@gmail.com"),
        ("first.last@googlemail.com", "firstlast@gmail.com"),
        ("john.doe+tag@outlook.com", "john.doe@outlook.com"),
        ("john.doe+tag@hotmail.com", "john.doe@hotmail.com"),
        ("me+x@fastmail.com", "me@fastmail.com"),
        ("me+x@proton.me", "me@proton.me"),
        ("name-keyword@yahoo.com", "name-keyword@yahoo.com"),  # Yahoo: left alone
        ("a.b+c@acme.com", "a.b+c@acme.com"),  # no provider rule: only case changes
        ("+only@gmail.com", "+only@gmail.com"),  # an empty base is not a mailbox: kept
        ("Jürgen@Bücher.de", "jürgen@xn--bcher-kva.de"),
    ],
)
def test_normalized_form(email: str, normalized: str) -> None:
    parsed = parse_address(email)
    assert parsed is not None
    assert parsed.email_normalized == normalized


def test_probe_address_keeps_gmail_dots_but_drops_the_tag() -> None:
    parsed = parse_address("First.Last+news@googlemail.com")
    assert parsed is not None
    assert parsed.rcpt_address == "first.last@gmail.com"
    assert parsed.domain == "gmail.com"


def test_internationalized_local_part_needs_smtputf8() -> None:
    assert parse_address("jürgen@example.com").smtputf8  # type: ignore[union-attr]
    assert not parse_address("jurgen@example.com").smtputf8  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "email",
    [
        None,
        "",
        "   ",
        "@",
        "plainaddress",
        "a@@b.com",
        "a..b@example.com",
        "first last@example.com",
        '"quoted"@example.com',  # quoted local parts are refused
        "a@localhost",  # special-use names
        "a@example.test",
        "a@[127.0.0.1]",  # domain literals
        "a\x00b@example.com",
        "\ud800@example.com",  # lone surrogate
        "x" * 10_000 + "@example.com",
        "a@" + "b" * 64 + ".com",  # label over 63 octets
        "Alice <alice@example.com>",  # display names
    ],
)
def test_invalid_addresses_parse_to_none(email: str | None) -> None:
    assert parse_address(email) is None


def test_dedup_key_is_trimmed_and_case_insensitive_only() -> None:
    assert dedup_key("  Alice@ACME.com ") == dedup_key("alice@acme.com") == "alice@acme.com"
    assert dedup_key("a.b@gmail.com") != dedup_key("ab@gmail.com")
    assert dedup_key(None) is None
    assert dedup_key("   ") is None


# -- the shortcut (plain local part, memoized domain) must answer as email-validator does -------

# U+212A KELVIN SIGN lower-cases to k; U+FF0E is a full-width full stop (a dot for UTS-46);
# U+0301 and U+0338 combine with what precedes them.
_ALPHABET = "aZ09.-_+'@xX.n-@ \"<>!#~`|é\u212a\uff0e\u0301\u0338ßü"
_EDGE_CASES = [
    "a@b.co",
    "A.B+C@Gmail.COM",
    "Info@Acme.com",  # an RFC 2142 name: email-validator lower-cases it itself
    "o'neil@x.io",
    "a!#$%&'*+-/=?^_`{|}~z@acme.com",
    "a@b.c1",  # TLD ends with a digit
    "a@b.1c",
    "a@b",  # no period
    "a@x--y.com",  # reserved `ab--` label
    "a@xn--bcher-kva.de",  # Punycode: IDNA-checked by email-validator
    "a@xn--bcher-kva.xn--tckwe",
    "a@xn--zz.com",  # not valid Punycode
    "a@ab--c.com",
    "a@a-.com",
    "a@-a.com",
    "a@a.-com",
    "a..b@acme.com",
    ".a@acme.com",
    "a.@acme.com",
    "a@acme..com",
    "a@acme.com.",
    "a@.acme.com",
    "a@b.test",
    "a@b.TEST",
    "a@localhost",
    "a@b.localhost",
    "a@b.invalid",
    "a@b.onion",
    "a@b.arpa",
    "a@in-addr.arpa",
    "a@b.example",
    "a@\u212aelvin.com",
    "\u212a@kelvin.com",
    "a@[127.0.0.1]",
    '"a"@acme.com',
    "Alice <a@acme.com>",
    "a@b@acme.com",
    "a b@acme.com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
    "a@" + "b" * 62 + "." + "c" * 63,
    "a@" + "b" * 63 + "." + "c" * 64,
    "a@" + ".".join(["b" * 61] * 4) + ".com",  # domain over 253
    "a@" + ".".join(["b" * 61] * 4) + ".c",  # exactly 253
    "x" * 64 + "@acme.com",
    "x" * 65 + "@acme.com",  # local part length only checked in strict mode
    "x" * 245 + "@acme.com",  # 254
    "x" * 246 + "@acme.com",  # 255
    "x" * 241 + "@" + "B" * 8 + ".COM",
    "a@bücher.de",
    "a@BÜCHER.de",
    "a@b\uff0ecom",
    "a@\u0301b.com",
    "a@\u0338b.com",
    "a\u0301@b.com",
    "a@",
    "@b.com",
    "x" * 240 + "@bücher.de",  # 251 characters, 252 octets, 255 as IDNA ASCII
    "x" * 237 + "@bücher.de",
    "x" * 236 + "@bücher.de",
]


def _email_validator(text: str) -> object:
    """email-validator's own answer, as parse_address reports it (the engine's options)."""
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
    return syntax._parsed(valid.local_part.lower(), valid.ascii_domain.lower())


def _reference(email: str) -> object:
    """What parse_address returned before the shortcut: email-validator for every input."""
    text = email.strip()
    if not text or len(text) > syntax.MAX_INPUT_CHARS:
        return None
    return _email_validator(text)


def _check_against_email_validator(email: str) -> bool:
    """The shortcut gives email-validator's verdict and normalization; returns whether it
    decided the address."""
    text = email.strip()
    plain = syntax._plain(text)
    if plain is not False:
        assert plain == _email_validator(text), email
    assert parse_address(email) == _reference(email), email
    return plain is not False


@pytest.mark.parametrize("email", _EDGE_CASES)
def test_plain_shortcut_matches_email_validator_on_edge_cases(email: str) -> None:
    _check_against_email_validator(email)
    _check_against_email_validator(email.upper())


def test_plain_shortcut_takes_ordinary_addresses_and_leaves_the_rest() -> None:
    parsed = syntax._plain("First.Last+news@GoogleMail.com")
    assert isinstance(parsed, syntax.ParsedAddress)
    assert parsed.email_normalized == "firstlast@gmail.com"
    assert syntax._plain("a@bücher.de") == parse_address("a@bücher.de")
    assert syntax._plain("a@localhost") is None  # the domain decides: invalid
    for email in ("jürgen@acme.com", '"a"@acme.com', "Alice <a@acme.com>", "a..b@acme.com"):
        assert syntax._plain(email) is False  # email-validator's own route


def test_no_character_composes_with_the_at_sign() -> None:
    """The shortcut splits at the first `@`; email-validator does not split at an `@` that a
    following character combines with. No Unicode character decomposes to `@` + something."""
    import sys
    import unicodedata

    assert not [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.decomposition(chr(code)).startswith("0040 ")
    ]


def test_plain_shortcut_honours_a_changed_special_use_list(monkeypatch) -> None:
    import email_validator

    assert parse_address("a@intranet.corp") is not None
    monkeypatch.setattr(
        email_validator,
        "SPECIAL_USE_DOMAIN_NAMES",
        [*email_validator.SPECIAL_USE_DOMAIN_NAMES, "corp"],
    )
    assert parse_address("a@intranet.corp") is None
    assert parse_address("a@intranet.corp") == _reference("a@intranet.corp")


def test_plain_shortcut_steps_aside_for_changed_defaults(monkeypatch) -> None:
    import email_validator

    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)
    assert syntax._plain("a@b.test") is False
    assert parse_address("a@b.test") == _reference("a@b.test")


def test_plain_shortcut_matches_email_validator_on_generated_accounts() -> None:
    account = generate_account(4_000, seed=5, tags=4)
    emails = [c.email for c in account.contacts.values() if isinstance(c.email, str)]
    taken = 0
    for email in emails:
        for variant in (email, email.upper(), f"  {email.title()}\t"):
            taken += _check_against_email_validator(variant)
    assert taken > 2 * len(emails)  # the shortcut is the common route, not a dead branch


@settings(max_examples=1_500, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ALPHABET, max_size=40),
        st.emails(),
        st.emails().map(str.upper),
        st.builds(
            "{}@{}.{}".format,
            st.text(alphabet=_ALPHABET, min_size=1, max_size=12),
            st.text(alphabet="ab-.Z9ü\uff0e", min_size=1, max_size=70),
            st.sampled_from(["com", "Test", "local", "c1", "xn--p1ai", "io", "a-b", "-x", "рф"]),
        ),
    )
)
def test_plain_shortcut_matches_email_validator(email: str) -> None:
    _check_against_email_validator(email)


def test_engine_verdicts_do_not_depend_on_the_shortcut(monkeypatch) -> None:
    """Every row of a batch (key, verdict, flags, billable) is what email-validator alone gives."""
    account = generate_account(1_500, seed=8, tags=3)
    emails: list[str | None] = [c.email for c in account.contacts.values()]
    emails += [e.upper() for e in emails[:300] if e] + _EDGE_CASES + [None, "", "  "]
    offline = VerificationSettings(nameservers=[("127.0.0.1", 9)], check_dns=False)
    with_shortcut = verify_emails(emails, offline).drop("checked_at")
    monkeypatch.setattr(syntax, "_plain", lambda _text: False)
    without = verify_emails(emails, offline).drop("checked_at")
    assert_frame_equal(with_shortcut, without)
    assert with_shortcut.get_column("email_normalized").null_count() < len(emails) // 10
