"""The account store keeps ActiveCampaign's invariants on its own, before any HTTP is involved."""

from __future__ import annotations

import pytest

from ac_hygiene.sandbox.activecampaign import SandboxAccount
from ac_hygiene.sandbox.activecampaign.records import ACTIVE, UNSUBSCRIBED


def _account() -> SandboxAccount:
    account = SandboxAccount()
    account.add_list("Newsletter")
    account.add_tag("vip")
    account.add_field("Company")
    return account


def test_exact_duplicate_email_is_refused_but_case_variant_is_kept() -> None:
    account = _account()
    first = account.add_contact("alice.smith@gmail.com", cdate=100)
    with pytest.raises(ValueError, match="already exists"):
        account.add_contact("alice.smith@gmail.com", cdate=200)
    variant = account.add_contact("Alice.Smith@Gmail.com", cdate=300)
    assert [c.id for c in account.find_by_email("ALICE.SMITH@GMAIL.COM")] == [first.id, variant.id]


def test_deleted_ids_are_never_reused_and_related_rows_go_with_the_contact() -> None:
    account = _account()
    a = account.add_contact("a@acme.com", cdate=1)
    b = account.add_contact("b@acme.com", cdate=1)
    membership = account.set_membership(b.id, 1, ACTIVE, now=5)
    contact_tag, created = account.add_contact_tag(b.id, 1, now=5)
    value = account.set_field_value(b.id, 1, "Acme", now=5)
    assert created
    assert account.delete_contact(b.id)
    assert not account.delete_contact(b.id)
    assert membership.id not in account.contact_lists
    assert contact_tag.id not in account.contact_tags
    assert value.id not in account.field_values
    assert account.find_by_email("b@acme.com") == []
    c = account.add_contact("c@acme.com", cdate=1)
    assert c.id == b.id + 1
    assert account.sorted_contact_ids == [a.id, c.id]


def test_writes_move_the_contact_udate_and_the_version() -> None:
    account = _account()
    contact = account.add_contact("a@acme.com", cdate=100)
    version = account.version
    account.set_membership(contact.id, 1, UNSUBSCRIBED, now=500)
    assert contact.udate == 500
    assert account.version > version
    row, created = account.add_contact_tag(contact.id, 1, now=600)
    again, created_again = account.add_contact_tag(contact.id, 1, now=700)
    assert (created, created_again) == (True, False)
    assert again is row
    assert contact.udate == 600


def test_membership_is_one_row_per_pair_and_keeps_its_subscription_date() -> None:
    account = _account()
    contact = account.add_contact("a@acme.com", cdate=100)
    first = account.set_membership(contact.id, 1, ACTIVE, now=100)
    second = account.set_membership(contact.id, 1, UNSUBSCRIBED, now=900)
    assert first is second
    assert (second.status, second.sdate, second.udate) == (UNSUBSCRIBED, 100, 900)
    assert len(account.contact_lists) == 1


def test_references_to_missing_rows_raise() -> None:
    account = _account()
    contact = account.add_contact("a@acme.com", cdate=100)
    with pytest.raises(KeyError):
        account.set_membership(contact.id, 99, ACTIVE, now=1)
    with pytest.raises(KeyError):
        account.add_contact_tag(99, 1, now=1)
    with pytest.raises(ValueError, match="status"):
        account.set_membership(contact.id, 1, 7, now=1)


def test_query_cache_is_invalidated_by_a_write() -> None:
    account = _account()
    account.add_contact("a@acme.com", cdate=1)
    count = account.cached("n", lambda: len(account.contacts))
    account.add_contact("b@acme.com", cdate=1)
    assert count == 1
    assert account.cached("n", lambda: len(account.contacts)) == 2
