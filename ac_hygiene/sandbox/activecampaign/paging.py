"""`limit` and `offset` as ActiveCampaign reads them.

A limit above the maximum is clamped, not refused (the real API silently returns 100 rows when
asked for 500: a client that trusts its own page size undercounts); a missing, zero, negative or
non-numeric limit means the default. A bad offset means 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def limit_of(params: Mapping[str, str], default: int = DEFAULT_LIMIT) -> int:
    value = _int_or_none(params.get("limit"))
    if value is None or value <= 0:
        return default
    return min(value, MAX_LIMIT)


def offset_of(params: Mapping[str, str]) -> int:
    value = _int_or_none(params.get("offset"))
    return value if value is not None and value > 0 else 0


def page(rows: Sequence[T], params: Mapping[str, str], default: int = DEFAULT_LIMIT) -> list[T]:
    offset = offset_of(params)
    return list(rows[offset : offset + limit_of(params, default)])
