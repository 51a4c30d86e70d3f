"""The result cache seam: the engine asks before probing and tells what it learned.

The engine owns only the protocol (agreed with the hygiene layer, whose SQL cache keeps results
across runs with a freshness window) and a dict-backed `MemoryCache` for tests and one-off runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

# The columns a cache stores and returns: the Verifications columns except email, from_cache and
# billable (those belong to one batch's input, not to the mailbox).
CACHED_COLUMNS = (
    "email_normalized",
    "status",
    "reason",
    "is_disposable",
    "is_role",
    "is_free",
    "is_catch_all",
    "suggestion",
    "mx_host",
    "smtp_code",
    "checked_at",
)


class ResultCache(Protocol):
    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """key = email_normalized -> a previously stored row (the Verifications columns except
        email, from_cache, billable); only fresh rows are returned."""

    def put_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """rows with the Verifications columns except email/from_cache/billable; the engine
        never stores unknown results (they must be retried next time)."""


class MemoryCache:
    """An in-process `ResultCache` without expiry: for tests and a single CLI run."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.lookups = 0
        self.stores = 0

    def __repr__(self) -> str:
        return f"MemoryCache({len(self.rows)} rows)"

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.lookups += 1
        return {key: dict(self.rows[key]) for key in keys if key in self.rows}

    def put_many(self, rows: Sequence[dict[str, Any]]) -> None:
        self.stores += 1
        for row in rows:
            missing = [column for column in CACHED_COLUMNS if column not in row]
            if missing:
                raise ValueError(f"cache row lacks column(s) {', '.join(missing)}")
            self.rows[row["email_normalized"]] = {c: row[c] for c in CACHED_COLUMNS}
