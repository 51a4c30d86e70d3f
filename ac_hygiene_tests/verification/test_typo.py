"""Typo suggestions: mailcheck's cases, and none of its false positives."""

from __future__ import annotations

import pytest

from ac_hygiene.verification import suggest_domain, suggest_email
from ac_hygiene.verification.typo import osa_distance


@pytest.mark.parametrize(
    ("domain", "suggestion"),
    [
        ("gmial.com", "gmail.com"),
        ("gmal.com", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gmial.con", "gmail.com"),
        ("hotmail.co", "hotmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("yahooo.com", "yahoo.com"),
        ("yaho.com", "yahoo.com"),
        ("outlok.com", "outlook.com"),
        ("iclod.com", "icloud.com"),
        ("aol.co", "aol.com"),
        ("hotmial.co.uk", "hotmail.co.uk"),
        ("acme.con", "acme.com"),  # not a TLD: fixed for any domain
        ("GMIAL.COM", "gmail.com"),
    ],
)
def test_suggests(domain: str, suggestion: str) -> None:
    assert suggest_domain(domain) == suggestion


@pytest.mark.parametrize(
    "domain",
    [
        "acme.com",
        "example-company.com",
        "gmail.com",  # popular itself
        "ymail.com",
        "email.com",
        "aon.com",  # one letter from aol.com, but a real company
        "love.com",  # one letter from live.com
        "email.de",  # mailcheck would say gmail.de
        "acme.co",  # a real TLD
        "xn--bcher-kva.de",
        "localhost",
    ],
)
def test_does_not_suggest(domain: str) -> None:
    assert suggest_domain(domain) is None


def test_suggests_the_whole_address() -> None:
    assert suggest_email("alice", "gmial.com") == "alice@gmail.com"
    assert suggest_email("alice", "acme.com") is None


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("gmail", "gmail", 0), ("gmial", "gmail", 1), ("gmal", "gmail", 1), ("acme", "aim", 2)],
)
def test_osa_distance(a: str, b: str, distance: int) -> None:
    assert osa_distance(a, b) == distance == osa_distance(b, a)


def test_listed_services_are_only_corrected_for_a_single_slip() -> None:
    from ac_hygiene.verification.typo import suggest_domain

    assert suggest_domain("gmial.com") == "gmail.com"  # on the disposable list, one edit
    assert suggest_domain("hotmai.com") == "hotmail.com"
    assert suggest_domain("yopmail.com") is None  # a real disposable service, two edits away
    assert suggest_domain("yopmail.fr") is None
