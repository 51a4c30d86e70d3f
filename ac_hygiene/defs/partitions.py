"""Partitions: a month, and per connection the segments of its account.

A run covers one (month, segment): the month is the billing period of the credits ledger (a contact
is charged once per connection per month), the segment is the share of the month's contacts one
run verifies and plans (`all`, `list-<id>`, `tag-<id>`, and the remainders `untagged` /
`unlisted`). Segments are dynamic because lists and tags come and go in the account. The account
snapshot is partitioned by month alone: it is read once a month and every segment is cut from it.

The month dimension starts at the connection's `start_month` (a fixed month in the configuration,
never a moving window, so months already run never disappear from the UI) and ends with the month
in progress. Only that month can be run: the account can only be read as it is now.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import dagster as dg

from ac_hygiene.config import DEFAULT_START_MONTH

MONTH = "month"
SEGMENT = "segment"
MONTH_FORMAT = "%Y-%m"
#: A run planned on the last day of a month may still be reading or verifying after midnight:
#: that month stays runnable for these many days into the next one.
GRACE_DAYS = 3


class PastMonthError(ValueError):
    """A run for a month that is over: its data can no longer be read as it was."""


@functools.cache
def months(start_month: str = DEFAULT_START_MONTH) -> dg.MonthlyPartitionsDefinition:
    """Monthly partitions from `start_month` (`YYYY-MM`) up to and including the month in progress
    (end_offset=1)."""
    return dg.MonthlyPartitionsDefinition(start_date=start_month, fmt=MONTH_FORMAT, end_offset=1)


#: The default month dimension (connections without `start_month`).
MONTHS = months()


def segments_name(connection: str) -> str:
    """Name of the connection's dynamic partition set."""
    return f"{connection}__segments"


def segments_partitions(connection: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=segments_name(connection))


def month_segment_partitions(
    connection: str, start_month: str = DEFAULT_START_MONTH
) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {MONTH: months(start_month), SEGMENT: segments_partitions(connection)}
    )


def month_segment_key(month: str, segment: str) -> dg.MultiPartitionKey:
    """The key of one run; Dagster writes it `<month>|<segment>` (dimensions sorted by name), which
    is why no segment key ever contains a `|`."""
    return dg.MultiPartitionKey({MONTH: month, SEGMENT: segment})


def current_month(now: datetime | None = None) -> str:
    """The partition key of the month in progress (UTC)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(MONTH_FORMAT)


def month_start(month: str) -> datetime:
    """Midnight UTC of the first day of `month` (a `YYYY-MM` partition key)."""
    return datetime.strptime(month, MONTH_FORMAT).replace(tzinfo=UTC)


def month_end(month: str) -> datetime:
    """Midnight UTC of the first day of the month after `month`."""
    start = month_start(month)
    return (start + timedelta(days=32)).replace(day=1)


def ensure_runnable_month(month: str, now: datetime | None = None) -> None:
    """Refuse a run that would read the account for a month other than the one in progress.

    The account can only be read as it is now: re-reading it for a past month would verify (and
    charge to that month) contacts as they are today, and pass that off as the month's history.
    A month stays runnable for `GRACE_DAYS` after it ends, for runs planned on its last day.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if month == current_month(now):
        return
    if month_start(month) > now:
        raise PastMonthError(f"month {month} has not begun (it is {current_month(now)} in UTC)")
    if now < month_end(month) + timedelta(days=GRACE_DAYS):
        return
    raise PastMonthError(
        f"month {month} is over: the account can only be read as it is now, so a run for {month} "
        f"would verify and charge today's contacts as that month's. Its results stay as they "
        f"were; run the current month ({current_month(now)}) instead."
    )


def split_key(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[str, str]:
    """(month, segment) of the partition being materialized."""
    key = context.partition_key
    if not isinstance(key, dg.MultiPartitionKey):
        raise TypeError(f"expected a `month|segment` partition key, got {key!r}")
    return key.keys_by_dimension[MONTH], key.keys_by_dimension[SEGMENT]
