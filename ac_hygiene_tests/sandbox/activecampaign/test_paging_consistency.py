"""Paging while the account changes: keyset paging is exact, offset paging is not.

Between every two pages a contact is created and a not-yet-read contact is deleted, as happens
when forms keep signing people up and a cleaning run deletes during an extract. Keyset paging
(`orders[id]=ASC&id_greater=<last>`) must return every contact that existed throughout exactly
once; offset paging, as on the real API, skips one contact per deletion before the cursor.
"""

from __future__ import annotations

import random

from ac_hygiene.sandbox.activecampaign import generate_account
from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for


def _churn(account, rng: random.Random, after_id: int, serial: list[int]) -> int:
    """Create one contact, delete one contact above `after_id`; returns the deleted id."""
    serial[0] += 1
    account.add_contact(f"new.person{serial[0]}@gmail.com", cdate=1_767_225_600)
    candidates = [i for i in account.sorted_contact_ids if i > after_id]
    victim = rng.choice(candidates[: max(1, len(candidates) // 2)])
    account.delete_contact(victim)
    return victim


async def test_keyset_paging_never_skips_or_repeats_under_inserts_and_deletes(make_app) -> None:
    account = generate_account(600, seed=4)
    original = set(account.contacts)
    rng, serial = random.Random(1), [0]
    deleted: set[int] = set()
    seen: list[int] = []
    async with client_for(make_app(account)) as client:
        last = 0
        while True:
            params = {"orders[id]": "ASC", "id_greater": last, "limit": 100}
            page = (await client.get("/api/3/contacts", params=params)).json()["contacts"]
            if not page:
                break
            seen += [int(c["id"]) for c in page]
            last = int(page[-1]["id"])
            deleted.add(_churn(account, rng, last, serial))
    assert len(seen) == len(set(seen))
    survivors = original - deleted
    assert survivors <= set(seen)
    assert not (set(seen) & deleted)


async def test_offset_paging_skips_contacts_when_earlier_ones_are_deleted(make_app) -> None:
    account = generate_account(300, seed=4)
    original = list(account.sorted_contact_ids)
    seen: list[int] = []
    async with client_for(make_app(account)) as client:
        offset = 0
        while True:
            params = {"offset": offset, "limit": 50}
            page = (await client.get("/api/3/contacts", params=params)).json()["contacts"]
            if not page:
                break
            seen += [int(c["id"]) for c in page]
            offset += len(page)
            # Delete a contact already read: every later contact shifts one place left.
            account.delete_contact(next(i for i in seen if i in account.contacts))
    missed = [i for i in original if i not in seen and i in account.contacts]
    assert len(missed) == 5  # one per page boundary: the hazard keyset paging avoids
