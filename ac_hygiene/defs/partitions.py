"""Partitions: a month, and per connection the segments of its account.

A run covers one (month, segment): the month is the billing period of the credits ledger (a contact
is charged once per connection per month), the segment is what one extraction reads (`all`,
`list-<id>`, `tag-<id>`). Segments are dynamic because lists and tags come and go in the account;
the sensor registers every one of them so that any single list can be backfilled from the UI.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

MONTH = "month"
SEGMENT = "segment"
MONTH_FORMAT = "%Y-%m"

# end_offset=1: the month in progress is a partition. Extraction reads the account as it is now,
# so the current month is the one that is run; earlier months only hold past results.
MONTHS = dg.MonthlyPartitionsDefinition(start_date="2025-01", fmt=MONTH_FORMAT, end_offset=1)


def segments_name(connection: str) -> str:
    """Name of the connection's dynamic partition set (CLI: `--partition 2026-05|list-3`)."""
    return f"{connection}__segments"


def segments_partitions(connection: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=segments_name(connection))


def month_segment_partitions(connection: str) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({MONTH: MONTHS, SEGMENT: segments_partitions(connection)})


def month_segment_key(month: str, segment: str) -> dg.MultiPartitionKey:
    """The key of one run; as a string it reads `<month>|<segment>` (dimensions sorted by name)."""
    return dg.MultiPartitionKey({MONTH: month, SEGMENT: segment})


def current_month(now: datetime | None = None) -> str:
    """The partition key of the month in progress (UTC)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(MONTH_FORMAT)


def month_start(month: str) -> datetime:
    """Midnight UTC of the first day of `month` (a `YYYY-MM` partition key)."""
    return datetime.strptime(month, MONTH_FORMAT).replace(tzinfo=UTC)


def split_key(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[str, str]:
    """(month, segment) of the partition being materialized."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise TypeError(f"expected a `month|segment` partition key, got {key!r}")
    return key.keys_by_dimension[MONTH], key.keys_by_dimension[SEGMENT]
