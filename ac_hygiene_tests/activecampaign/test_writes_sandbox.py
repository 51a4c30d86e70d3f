"""Writes against the sandbox: each checked against the account's state afterwards."""

from __future__ import annotations

import pytest

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.errors import NotFound, ValidationFailed
from ac_hygiene.activecampaign.writes import (
    ImportContact,
    add_tag,
    bulk_import,
    delete_contact,
    remove_tag,
    set_field_value,
    unsubscribe,
)
from ac_hygiene.sandbox.activecampaign import generate_account

FAST = {"rate": 500.0}


async def test_single_record_writes(sandbox) -> None:
    with sandbox(contacts=20) as sb:
        account = sb.account
        contact_id = min(account.contacts)
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            await unsubscribe(client, contact_id, 3)
            assert account.membership(contact_id, 3).status == 2
            await unsubscribe(client, contact_id, 3)  # idempotent: same state
            assert account.membership(contact_id, 3).status == 2

            contact_tag_id = await add_tag(client, contact_id, 4)
            assert contact_tag_id in account.contact_tags
            assert 4 in {t.tag for t in account.tags_of(contact_id)}
            assert await remove_tag(client, contact_tag_id) == "removed"
            assert await remove_tag(client, contact_tag_id) == "already_gone"
            assert 4 not in {t.tag for t in account.tags_of(contact_id)}

            value_id = await set_field_value(client, contact_id, 2, "Canada")
            assert account.field_values[value_id].value == "Canada"

            assert await delete_contact(client, contact_id) == "deleted"
            assert contact_id not in account.contacts
            assert await delete_contact(client, contact_id) == "already_gone"

            with pytest.raises(NotFound, match="No Result found"):
                await unsubscribe(client, max(account.contacts), 999)  # 403 "No Result found"
            with pytest.raises((NotFound, ValidationFailed)):
                await add_tag(client, max(account.contacts), 999)


async def test_bulk_import_batches_and_reconciles_every_email(sandbox) -> None:
    account = generate_account(50, seed=2)
    account.exclusions.update({"skip.me.1@example.com", "skip.me.2@example.com"})
    existing = sorted(account.contacts.values(), key=lambda c: c.id)[:20]
    contacts = [ImportContact(c.email, unsubscribe=(1,)) for c in existing]
    contacts += [ImportContact(f"new{i}@example.com", tags=("imported",)) for i in range(560)]
    contacts += [
        ImportContact("skip.me.1@example.com"),
        ImportContact("skip.me.2@example.com"),
        ImportContact("not-an-email"),  # refused on receipt: the batch is re-sent without it
        ImportContact("invalid.email@invalidDomain"),  # fails when the batch runs
    ]
    with sandbox(account=account, import_delay_s=0.02) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            result = await bulk_import(client, contacts, poll_interval_s=0.02)
        assert len(result.batch_ids) == 3  # 584 contacts: 250 + 250 + 84
        assert sb.stats.requests["POST /api/3/import/bulk_import"] == 4  # one batch re-sent
        assert set(result.failed) == {"not-an-email", "invalid.email@invalidDomain"}
        assert "incorrect format" in result.failed["not-an-email"]
        assert sorted(result.skipped) == ["skip.me.1@example.com", "skip.me.2@example.com"]
        assert len(result.imported) == 20 + 560
        assert result.unknown == []
        assert result.complete
        for contact in existing:
            membership = account.membership(contact.id, 1)
            assert membership is not None and membership.status == 2
        assert len(account.find_by_email("new559@example.com")) == 1
        assert account.find_by_email("skip.me.1@example.com") == []


async def test_bulk_import_refuses_duplicate_emails_before_sending(sandbox) -> None:
    with sandbox(contacts=5) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            with pytest.raises(ValueError, match="twice"):
                await bulk_import(client, [ImportContact("a@x.com"), ImportContact("A@x.com")])
        assert sb.stats.total_requests == 0


async def test_bulk_import_of_multibyte_text_fills_requests_up_to_the_byte_limit(sandbox) -> None:
    # 40,000 "€" are 120,000 bytes of UTF-8 (what is sent) but 240,000 as `\u20ac` escapes:
    # three such contacts fit in one request under 400,000 bytes, four do not.
    name = "\u20ac" * 40_000
    contacts = [ImportContact(f"euro{i}@example.com", first_name=name) for i in range(4)]
    with sandbox(contacts=5, import_delay_s=0.0) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            result = await bulk_import(client, contacts, poll_interval_s=0.01)
        assert len(result.batch_ids) == 2  # 3 + 1, each under the sandbox's 400,000 bytes
        assert sb.stats.requests["POST /api/3/import/bulk_import"] == 2
        assert sorted(result.imported) == sorted(c.email for c in contacts)
        (stored,) = sb.account.find_by_email("euro3@example.com")
        assert stored.first_name == name
