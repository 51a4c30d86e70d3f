"""`ac-hygiene restore`: re-create contacts an apply run deleted, from its backup.

    ac-hygiene restore --connection acme --run RUN_ID [--contact ID]

Reads `<data dir>/backups/<connection>/<run id>.jsonl` (written, fsynced, before each delete),
re-creates each contact with its lists (same statuses), tags and custom field values, and prints
old id → new id. A contact whose email exists again is not re-created (its id is printed), so
running it twice is safe.
"""

from __future__ import annotations

import asyncio

import click

from ac_hygiene.cli.apply import credentials, settings_for
from ac_hygiene.cli.check_connection import EXIT_BAD_INPUT, _fail, exit_code


@click.command(name="restore")
@click.option("--connection", "name", required=True, metavar="NAME", help="Connection name.")
@click.option("--run", "run_id", required=True, metavar="RUN_ID", help="The apply run's id.")
@click.option(
    "--contact",
    "contact_id",
    type=click.IntRange(min=1),
    default=None,
    help="Only this (old) contact id.",
)
def restore(name: str, run_id: str, contact_id: int | None) -> None:
    """Undo deletes: re-create the contacts an apply run deleted, from its backup."""
    from ac_hygiene.activecampaign.client import ActiveCampaignClient
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.activecampaign.errors import ActiveCampaignError
    from ac_hygiene.defs.paths import data_dir
    from ac_hygiene.hygiene.restore import RestoreError, backup_records
    from ac_hygiene.hygiene.restore import restore as restore_records

    settings = settings_for(name)
    try:
        records = backup_records(data_dir() / "backups", settings.name, run_id.strip(), contact_id)
    except RestoreError as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
        return
    url, key = credentials(settings)

    async def go():
        async with ActiveCampaignClient(Connection.from_raw(settings.name, url, key)) as client:
            return await restore_records(client, records)

    try:
        results = asyncio.run(go())
    except ActiveCampaignError as exc:
        _fail(f"{settings.name}: {exc}", exit_code(exc))
        return
    for r in results:
        notes = f"  ({'; '.join(r.notes)})" if r.notes else ""
        click.echo(f"{r.old_id} -> {r.new_id}  {r.status}  {r.email}{notes}")
    restored = sum(r.status == "restored" for r in results)
    click.echo(
        f"{restored} contact(s) re-created, {len(results) - restored} already present", err=True
    )
