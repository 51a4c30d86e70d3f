"""Dates the way ActiveCampaign writes and reads them.

ActiveCampaign renders times in the account's own time zone with an offset
(`2026-01-05T10:11:12-06:00`), `created_timestamp`-style fields as the same wall-clock time
without offset, the `*_utc_timestamp` fields as naive UTC (`2026-01-05 16:11:12`), and
reads `filters[...]` dates as dates *in the account's zone*. Clients that assume UTC get
off-by-hours bugs at month boundaries, so the sandbox reproduces exactly this.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_ac(ts: int, tz: ZoneInfo) -> str:
    """`2026-01-05T10:11:12-06:00`: the zone's local time with its offset."""
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def format_utc_naive(ts: int) -> str:
    """`2026-01-05 16:11:12`: `created_utc_timestamp` and `updated_utc_timestamp` (naive UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_local_naive(ts: int, tz: ZoneInfo) -> str:
    """`2026-01-05 10:11:12`: `created_timestamp`/`updated_timestamp`, the account's wall clock
    without offset (the API reference's membership example: `sdate` 11:17:44-05:00, its
    `created_timestamp` "11:17:44")."""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def format_fixture(ts: int) -> str:
    """Fixtures store UTC with a `Z`, so that a fixture reads the same whatever the account zone."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str, tz: ZoneInfo) -> int:
    """An ISO 8601 date or date-time to POSIX seconds; a naive value is read in `tz`.

    Raises ValueError on anything else, with the accepted shapes in the message.
    """
    value = text.strip()
    try:
        if _DATE_ONLY.fullmatch(value):
            moment = datetime.combine(date.fromisoformat(value), time(0), tz)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError:
        raise ValueError(
            f"not a date: {text!r} (expected YYYY-MM-DD or an ISO 8601 date-time such as "
            "2026-01-05T10:11:12-06:00)"
        ) from None
    return int(moment.timestamp())
