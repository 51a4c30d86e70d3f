"""Undo a delete: re-create contacts from the backup the apply step wrote before deleting them.

For each contact of a run's backup (or one of them): if a contact with that exact email exists
already (restored before, or signed up again), nothing is created and its id is reported. Else
the contact is created with its name and phone, its list memberships with the same statuses
(active or unsubscribed: the API cannot set "unconfirmed" or "bounced", which are reported),
its tags (by id; a tag deleted since is reported) and its custom field values. ActiveCampaign
gives the contact a new id; the report maps old ids to new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.errors import NotFound, WriteOutcomeUnknown
from ac_hygiene.activecampaign.writes import (
    ContactRecord,
    add_tag,
    create_contact,
    find_contact_ids,
    set_field_value,
    set_membership,
)
from ac_hygiene.hygiene.backup import backup_path, read_backup


class RestoreError(RuntimeError):
    """Nothing to restore from (no backup for that run, or the contact is not in it)."""


@dataclass
class Restored:
    old_id: int
    email: str
    new_id: int | None
    status: str  # restored | already_present
    notes: list[str] = field(default_factory=list)


def backup_records(
    backups_dir: Path, connection: str, run_id: str, contact_id: int | None = None
) -> list[ContactRecord]:
    path = backup_path(backups_dir, connection, run_id)
    if not path.is_file():
        raise RestoreError(
            f"no backup for run {run_id!r} of connection {connection!r} at {path}: the run "
            "deleted nothing, or the id is wrong (the run id is shown on the applied_actions "
            "materialization and printed by `ac-hygiene apply`)"
        )
    records = list(read_backup(path))
    if contact_id is not None:
        records = [r for r in records if r.contact_id == contact_id]
        if not records:
            raise RestoreError(f"contact {contact_id} is not in the backup of run {run_id!r}")
    return records


async def restore_contact(client: ActiveCampaignClient, record: ContactRecord) -> Restored:
    existing = await find_contact_ids(client, record.email)
    if existing:
        return Restored(record.contact_id, record.email, existing[0], "already_present")
    try:
        new_id = await create_contact(client, record)
    except WriteOutcomeUnknown:
        found = await find_contact_ids(client, record.email)
        if not found:
            raise
        new_id = found[0]
    notes: list[str] = []
    for m in record.memberships:
        if m.status in (1, 2):
            try:
                await set_membership(client, new_id, m.list_id, m.status)
            except NotFound:
                notes.append(f"list {m.list_id} no longer exists")
        else:
            notes.append(f"list {m.list_id}: status {m.status} cannot be set through the API")
    for tag_id in record.tag_ids:
        try:
            await add_tag(client, new_id, tag_id)
        except NotFound:
            notes.append(f"tag {tag_id} no longer exists")
    for field_id, value in record.field_values:
        try:
            await set_field_value(client, new_id, field_id, value)
        except NotFound:
            notes.append(f"field {field_id} no longer exists")
    return Restored(record.contact_id, record.email, new_id, "restored", notes)


async def restore(
    client: ActiveCampaignClient,
    records: list[ContactRecord],
    progress: Callable[[str], None] = lambda _: None,
) -> list[Restored]:
    out = []
    for record in records:
        result = await restore_contact(client, record)
        progress(f"{record.contact_id} {record.email}: {result.status} as {result.new_id}")
        out.append(result)
    return out
