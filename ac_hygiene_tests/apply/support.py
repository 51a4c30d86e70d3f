"""A small account whose truth is known, and the plan the policy makes of it.

Contacts `n` (1-based) have email `user<n>@<domain>`; each category gets its own domain so a
test reads what should happen from the address alone. Every contact is active on lists 1 and 2,
unsubscribed from list 3, tagged `vip` (tag 1), with custom field 1 set.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import polars as pl

from ac_hygiene.hygiene.policy import CleanPolicy
from ac_hygiene.sandbox.activecampaign import SandboxAccount
from ac_hygiene.schemas import CleanPlan

PLANNED_AT = datetime.now(UTC).replace(microsecond=0)
BEFORE = int(PLANNED_AT.timestamp()) - 3600

# category -> domain
DOMAINS = {
    "valid": "good.example",
    "invalid": "nomailbox.example",
    "disposable": "throwaway.example",
    "catch_all": "catchall.example",
    "unknown": "timeout.example",
    "risky": "role.example",
}


def build_account(per_category: dict[str, int]) -> tuple[SandboxAccount, pl.DataFrame]:
    """The account and its plan under the default policy (ids in category order)."""
    account = SandboxAccount(name="apply-test")
    for name in ("Newsletter", "Customers", "Old"):
        account.add_list(name, cdate=BEFORE)
    account.add_tag("vip", cdate=BEFORE)
    account.add_field("Country", cdate=BEFORE)
    policy = CleanPolicy()
    rows = []
    n = 0
    for category, count in per_category.items():
        for _ in range(count):
            n += 1
            contact = account.add_contact(
                f"user{n}@{DOMAINS[category]}",
                f"First{n}",
                f"Last{n}",
                cdate=BEFORE,
                phone=f"+1555{n:04d}",
            )
            account.set_membership(contact.id, 1, 1, now=BEFORE)
            account.set_membership(contact.id, 2, 1, now=BEFORE)
            account.set_membership(contact.id, 3, 2, now=BEFORE)
            account.add_contact_tag(contact.id, 1, now=BEFORE)
            account.set_field_value(contact.id, 1, f"Country{n}", now=BEFORE)
            action = policy.action_for(category)
            rows.append(
                {
                    "contact_id": contact.id,
                    "email": contact.email,
                    "category": category,
                    "action": action,
                    "list_ids": [1, 2] if action == "unsubscribe" else [],
                    "reason": "test",
                }
            )
    plan = pl.DataFrame(
        rows,
        schema={
            "contact_id": pl.Int64,
            "email": pl.String,
            "category": pl.String,
            "action": pl.String,
            "list_ids": pl.List(pl.Int64),
            "reason": pl.String,
        },
    )
    return account, CleanPlan.validate(plan)


def later() -> int:
    """A write 'by hand' after the plan was made."""
    return max(int(time.time()), int(PLANNED_AT.timestamp())) + 60


def snapshot(account: SandboxAccount, contact_id: int) -> dict:
    """A contact as a restore must give it back (ids of memberships/tags aside)."""
    c = account.contacts[contact_id]
    return {
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "phone": c.phone,
        "lists": sorted((m.list, m.status) for m in account.memberships_of(contact_id)),
        "tags": sorted(t.tag for t in account.tags_of(contact_id)),
        "fields": sorted((v.field, v.value) for v in account.field_values_of(contact_id)),
    }
