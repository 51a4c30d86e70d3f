"""Disposable, role and free-provider lists."""

from __future__ import annotations

import pytest

from ac_hygiene.verification import is_disposable, is_free, is_role
from ac_hygiene.verification.lists import free_domains, role_names


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("mailinator.com", True),
        ("a.b.mailinator.com", True),  # parent domains match
        ("yopmail.com", True),
        ("acme.com", False),
        ("gmail.com", False),
        ("com", False),
        ("acmemailinator.com", False),  # a suffix of the name is not a parent domain
    ],
)
def test_disposable(domain: str, expected: bool) -> None:
    assert is_disposable(domain) is expected


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("info", True),
        ("INFO", True),
        ("info+newsletter", True),
        ("sales-team", True),
        ("support.de", True),
        ("no-reply", True),
        ("noreply-eu", True),
        ("postmaster", True),
        ("alice", False),
        ("john.sales", False),  # the first part says whose mailbox it is
        ("information.desk", True),
        ("infos", True),
        ("infosec.bob", False),
        ("support_2", True),
        ("customer-service-team", True),
        # A role word followed by a name is a person; names and placeholders are not roles.
        ("dev.patel", False),
        ("cs.lewis", False),
        ("sales.john", False),
        ("dev", False),
        ("nobody", False),
        ("", False),
    ],
)
def test_role(local: str, expected: bool) -> None:
    assert is_role(local) is expected


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("gmail.com", True),
        ("GMX.de", True),
        ("yandex.ru", True),
        ("proton.me", True),
        ("mail.ru", True),
        ("acme.com", False),
        ("corp.gmail.com", False),  # exact match only
    ],
)
def test_free(domain: str, expected: bool) -> None:
    assert is_free(domain) is expected


def test_shipped_lists_have_a_sensible_size() -> None:
    assert 100 <= len(role_names()) <= 900
    assert len(free_domains()) >= 100
    assert all(name == name.strip().lower() and " " not in name for name in role_names())
