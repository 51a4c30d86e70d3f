"""Account metadata per connection: the lists, tags and custom fields of the account.

Small tables, read in a handful of requests; they name the segments (a list segment is
`list-<list_id>`) and are upstream of every segment extraction in the lineage.
"""

from collections.abc import Awaitable, Callable

import dagster as dg
import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.reads import fetch_fields, fetch_lists, fetch_tags
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.locks import account_lock
from ac_hygiene.defs.metadata import preview
from ac_hygiene.defs.resources import ActiveCampaignResource, activecampaign_resource_key
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG

Fetch = Callable[[ActiveCampaignClient], Awaitable[pl.DataFrame]]

_TABLES: tuple[tuple[str, Fetch, str], ...] = (
    (
        "lists",
        fetch_lists,
        "Every contact list of the ActiveCampaign account (list_id, name), read once a month. "
        "Each list can be cleaned on its own as segment `list-<list_id>`.",
    ),
    (
        "tags",
        fetch_tags,
        "Every tag of the ActiveCampaign account (tag_id, tag), read once a month. Each tag can "
        "be cleaned on its own as segment `tag-<tag_id>`.",
    ),
    (
        "fields",
        fetch_fields,
        "The account's custom contact fields (field_id, title, type), read once a month: where "
        "verification results can be written back to the contacts.",
    ),
)

ACCOUNT_TABLES = tuple(name for name, _, _ in _TABLES)


def _account_asset(settings: ConnectionSettings, name: str, fetch: Fetch, description: str):
    connection = settings.name
    resource_key = activecampaign_resource_key(connection)

    @dg.asset(
        key=[connection, name],
        group_name=connection,
        description=description,
        required_resource_keys={resource_key},
        kinds={"activecampaign", "polars"},
        tags={CONNECTION_TAG: connection},
    )
    def _table(context: dg.AssetExecutionContext) -> dg.Output[pl.DataFrame]:
        tag_run(context)
        resource: ActiveCampaignResource = getattr(context.resources, resource_key)
        with account_lock(connection) as lock_wait:
            frame = resource.run(fetch)
        context.log.info(f"{connection}: {frame.height:,} {name}")
        return dg.Output(
            frame,
            metadata={
                "preview": preview(frame, limit=20),
                "account_lock_wait_seconds": round(lock_wait, 2),
            },
        )

    return _table


def account_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    return [_account_asset(settings, *table) for table in _TABLES]
