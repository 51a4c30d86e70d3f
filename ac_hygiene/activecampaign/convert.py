"""Turning ActiveCampaign's all-strings JSON into typed values.

Almost every value comes back as a string (`"id":"68"`, `"bounced_hard":"0"`, `meta.total:"2"`),
dates come with an offset (`2018-09-12T16:53:50-05:00`) or as MySQL zero dates
(`0000-00-00 00:00:00`) meaning "none". Every table leaves this module with Int64 ids, booleans
and UTC datetimes, so nothing downstream compares "10" < "9".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")


def to_int(value: Any) -> int | None:
    """`"68"` -> 68; `None`, `""`, `"abc"` -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def to_bool_count(value: Any) -> bool:
    """`bounced_hard` is a counter in a string: `"0"` is False, `"1"`/`"2"` are True."""
    number = to_int(value)
    return bool(number) if number is not None else False


def meta_total(body: Mapping[str, Any]) -> int | None:
    """`meta.total` of a list response (a string in the API)."""
    meta = body.get("meta")
    if isinstance(meta, Mapping):
        return to_int(meta.get("total"))
    return None


def text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def parse_utc(column: pl.Expr) -> pl.Expr:
    """ISO-8601 with an offset (or `Z`) -> UTC; zero dates and blanks -> null.

    A date without an offset (rare, older endpoints) is taken as UTC: there is no way to know the
    account's time zone from the value itself.
    """
    text = column.str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
    with_offset = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_zone="UTC", time_unit="us"
    )
    has_offset = text.str.contains(r"([+-][0-9]{2}:?[0-9]{2})$")
    naive = (
        pl.when(has_offset)
        .then(None)
        .otherwise(text.str.slice(0, 19))
        .str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
        .dt.replace_time_zone("UTC")
    )
    return pl.coalesce(with_offset, naive)


def sorted_unique(values: Iterable[int]) -> list[int]:
    return sorted(set(values))
