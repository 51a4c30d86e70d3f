from __future__ import annotations

import json

import httpx
import pytest

from ac_hygiene.activecampaign.writes import (
    MAX_CONTACTS_PER_IMPORT,
    MAX_IMPORT_BYTES,
    ImportContact,
    split_batches,
)


def _size(batch: list[ImportContact]) -> int:
    body = {"contacts": [c.to_json() for c in batch]}
    return len(json.dumps(body, separators=(",", ":")).encode())


def test_at_most_250_contacts_per_request() -> None:
    contacts = [ImportContact(f"c{i}@example.com", unsubscribe=(3,)) for i in range(1001)]
    batches = split_batches(contacts)
    assert [len(b) for b in batches] == [250, 250, 250, 250, 1]
    assert [c for b in batches for c in b] == contacts


def test_under_400000_bytes_per_request() -> None:
    big = "x" * 5000
    contacts = [ImportContact(f"c{i}@example.com", fields=((1, big),)) for i in range(200)]
    batches = split_batches(contacts)
    assert len(batches) > 1
    assert all(len(b) <= MAX_CONTACTS_PER_IMPORT for b in batches)
    assert all(_size(b) < MAX_IMPORT_BYTES for b in batches)
    assert max(_size(b) for b in batches) > MAX_IMPORT_BYTES * 0.95  # and batches are full
    assert [c for b in batches for c in b] == contacts


def test_a_single_oversized_contact_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="400,000-byte"):
        split_batches([ImportContact("a@example.com", fields=((1, "x" * MAX_IMPORT_BYTES),))])


def test_contact_json_shape() -> None:
    contact = ImportContact(
        "a@example.com",
        first_name="A",
        tags=("vip",),
        fields=((2, "DE"),),
        subscribe=(1,),
        unsubscribe=(3, 4),
    )
    assert contact.to_json() == {
        "email": "a@example.com",
        "first_name": "A",
        "tags": ["vip"],
        "fields": [{"id": 2, "value": "DE"}],
        "subscribe": [{"listid": 1}],
        "unsubscribe": [{"listid": 3}, {"listid": 4}],
        "exclude_automations": True,
    }


def _sent_size(batch: list[ImportContact]) -> int:
    """The bytes httpx actually sends for the batch: UTF-8, not `\\u` escapes."""
    request = httpx.Request("POST", "https://x/", json={"contacts": [c.to_json() for c in batch]})
    return len(request.content)


def test_multibyte_text_is_measured_as_the_utf8_bytes_sent() -> None:
    # 70,000 "€" are 210,000 bytes of UTF-8 but 420,000 as `\u20ac` escapes: the contact fits.
    contacts = [ImportContact("a@example.com", first_name="\u20ac" * 70_000)]
    contacts += [ImportContact(f"c{i}@example.com", last_name="\u00e9" * 20_000) for i in range(9)]
    batches = split_batches(contacts)
    assert [c for b in batches for c in b] == contacts
    assert all(_sent_size(b) < MAX_IMPORT_BYTES for b in batches)
    assert max(_sent_size(b) for b in batches) > MAX_IMPORT_BYTES * 0.85  # and batches are full
    assert len(batches) == 2
