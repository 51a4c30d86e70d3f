"""Syntax and the two normalization keys (billing dedup vs cache/probe)."""

from __future__ import annotations

import pytest

from ac_hygiene.verification import dedup_key, parse_address


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
