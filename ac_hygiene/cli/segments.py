"""`ac-hygiene register-segments`: make every list and tag of an account backfillable.

Segments are dynamic partitions, registered by the connection's sensor. The sensor is stopped by
default (turning it on requests the month's runs, which spend credits), so a data team that only
wants to backfill one list needs another way to register them: this command reads the account's
lists and tags (three requests) and adds the missing segments to the Dagster instance in
`$DAGSTER_HOME`. It runs nothing and charges nothing.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import click

from ac_hygiene.cli.check_connection import EXIT_BAD_INPUT, _fail, exit_code

if TYPE_CHECKING:
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.defs.sensors import AccountShape


async def _shape(connection: Connection) -> AccountShape:
    from ac_hygiene.activecampaign.client import ActiveCampaignClient
    from ac_hygiene.defs.sensors import read_shape

    async with ActiveCampaignClient(connection) as client:
        return await read_shape(client)


@click.command(name="register-segments")
@click.option(
    "--connection",
    "names",
    multiple=True,
    metavar="NAME",
    help="A connection of the connections file (repeatable; default: all of them).",
)
def register_segments(names: tuple[str, ...]) -> None:
    """Register every list and tag of the account(s) as segments, for single-list backfills.

    Reads the connections as the code location does (connections.yaml, $AC_HYGIENE_CONNECTIONS
    or AC_API_URL / AC_API_KEY) and adds the segments to the instance in $DAGSTER_HOME.
    Nothing is run and no credit is spent.
    """
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.activecampaign.errors import ActiveCampaignError
    from ac_hygiene.cli.instance import check_instance_yaml, dagster_home_dir, open_instance
    from ac_hygiene.config import ConnectionsConfigError, load_connections

    check_instance_yaml(dagster_home_dir())  # before any request: a bad home is one line, exit 2
    try:
        config = load_connections()
        selected = [config.get(name) for name in names] if names else list(config.connections)
    except (ConnectionsConfigError, KeyError) as exc:
        _fail(str(exc.args[0] if isinstance(exc, KeyError) else exc), EXIT_BAD_INPUT)
        return

    from ac_hygiene.defs.partitions import segments_name
    from ac_hygiene.defs.sensors import all_segments

    with open_instance() as instance:
        for settings in selected:
            url = os.environ.get(settings.api_url_env, "")
            key = os.environ.get(settings.api_key_env, "")
            missing = [v for v, value in ((settings.api_url_env, url), (settings.api_key_env, key))
                       if not value]  # fmt: skip
            if missing:
                _fail(f"{settings.name}: set {' and '.join(missing)}.", EXIT_BAD_INPUT)
            try:
                connection = Connection.from_raw(settings.name, url, key)
                shape = asyncio.run(_shape(connection))
            except ActiveCampaignError as exc:  # malformed, refused, unreachable, inactive...
                _fail(f"{settings.name}: {exc}", exit_code(exc))
                return
            partitions = segments_name(settings.name)
            known = set(instance.get_dynamic_partitions(partitions))
            new = [segment for segment in all_segments(shape) if segment not in known]
            if new:
                instance.add_dynamic_partitions(partitions, new)
            click.echo(
                f"{settings.name}: {len(shape.list_ids)} lists, {len(shape.tag_ids)} tags; "
                f"{len(new)} segment(s) registered, {len(known)} already known."
            )
