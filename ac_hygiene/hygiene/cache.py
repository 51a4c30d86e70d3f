"""A persistent verification cache, so that monthly runs only probe what changed.

It implements the engine's `ResultCache` protocol (`ac_hygiene.verification.cache`) structurally,
in the ledger's database (its own table), keyed by `email_normalized`:

- `get_many` returns only rows checked within the freshness window (30 days by default; the
  pipeline also bounds it by the start of the month being run, so a monthly run re-probes what it
  verified last month and reuses what another segment or a re-run verified since).
- `put_many` upserts; unknown results are never stored (whatever the caller passes), because an
  unknown is no verdict and must be retried next time. A newer result replaces an older one, an
  older one never overwrites a newer (two concurrent runs may store the same address).
- Keys longer than 320 characters (more than RFC 5321 allows) are neither stored nor looked up:
  they are invalid syntax, which costs nothing to re-check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.db import Database, utc_now
from ac_hygiene.hygiene.tables import MAX_CACHE_KEY_LENGTH, verification_cache
from ac_hygiene.verification.cache import CACHED_COLUMNS, ResultCache  # the engine owns the seam

CACHEABLE_STATUSES = frozenset({"deliverable", "undeliverable", "risky"})
_VALUE_COLUMNS = tuple(c for c in CACHED_COLUMNS if c != "email_normalized")
_CHUNK = 1_000


def _usable_key(key: object) -> bool:
    return isinstance(key, str) and 0 < len(key) <= MAX_CACHE_KEY_LENGTH


def _aware(value: object, key: str) -> datetime:
    """checked_at as aware UTC; a naive datetime is taken as UTC (what the engine writes)."""
    if not isinstance(value, datetime):
        raise ValueError(f"cache row {key!r}: checked_at must be a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _storable(row: dict[str, Any]) -> dict[str, Any] | None:
    """The row as stored, or None for rows the cache must not keep (unknown, unusable key)."""
    missing = [c for c in CACHED_COLUMNS if c not in row]
    if missing:
        raise ValueError(
            f"cache row lacks column(s) {', '.join(missing)}: pass the Verifications columns "
            "except email, from_cache and billable"
        )
    key = row["email_normalized"]
    if row["status"] not in CACHEABLE_STATUSES or not _usable_key(key):
        return None
    stored = {c: row[c] for c in CACHED_COLUMNS}
    stored["checked_at"] = _aware(row["checked_at"], key)
    for flag in ("is_disposable", "is_role", "is_free", "is_catch_all"):
        stored[flag] = bool(stored[flag])
    if stored["smtp_code"] is not None:
        stored["smtp_code"] = int(stored["smtp_code"])
    return stored


class SqlResultCache:
    """The engine's `ResultCache`, persisted in the ledger database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        freshness: timedelta = timedelta(days=30),
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if freshness <= timedelta(0):
            raise ValueError(f"freshness must be a positive duration, got {freshness}")
        self.freshness = freshness
        self._clock = clock
        self._db = Database(url)

    def _cutoff(self) -> datetime:
        """The oldest `checked_at` still fresh. The window is elapsed time, so the clock is read
        in UTC first: on a zoned clock, `now - 30 days` is wall-clock arithmetic and would be an
        hour off across a daylight-saving change (serving a stale row, or dropping a fresh one).
        """
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the cache clock returned a naive datetime: return an aware one")
        return now.astimezone(UTC) - self.freshness

    def __repr__(self) -> str:
        return f"SqlResultCache({self._db.masked_url!r}, freshness={self.freshness})"

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> SqlResultCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Fresh stored results by `email_normalized`; keys not cached (or stale) are absent."""
        wanted = sorted({k for k in keys if _usable_key(k)})
        if not wanted:
            return {}
        cutoff = self._cutoff()
        columns = [verification_cache.c[c] for c in CACHED_COLUMNS]

        def read(conn: Connection) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(wanted), _CHUNK):
                query = sa.select(*columns).where(
                    verification_cache.c.email_normalized.in_(wanted[start : start + _CHUNK]),
                    verification_cache.c.checked_at >= cutoff,
                )
                for row in conn.execute(query).mappings():
                    found[row["email_normalized"]] = dict(row)
            return found

        return self._db.run(read, readonly=True)

    def put_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upsert definite results (newest `checked_at` wins); unknown results are dropped."""
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            stored = _storable(row)
            if stored is None:
                continue
            key = stored["email_normalized"]
            if key not in newest or stored["checked_at"] > newest[key]["checked_at"]:
                newest[key] = stored
        ordered = [newest[k] for k in sorted(newest)]  # one lock order for concurrent writers
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            self._db.run(lambda conn, chunk=chunk: _upsert(conn, chunk))

    def purge_expired(self) -> int:
        """Delete rows older than the freshness window (they are never returned); returns count."""
        cutoff = self._cutoff()
        query = sa.delete(verification_cache).where(verification_cache.c.checked_at < cutoff)
        return int(self._db.run(lambda conn: conn.execute(query).rowcount))


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(verification_cache)
    stmt = stmt.on_conflict_do_update(
        index_elements=["email_normalized"],
        set_={c: stmt.excluded[c] for c in _VALUE_COLUMNS},
        where=verification_cache.c.checked_at <= stmt.excluded.checked_at,
    )
    conn.execute(stmt, rows)


if TYPE_CHECKING:

    def _conforms(cache: SqlResultCache) -> ResultCache:  # a type checker verifies the protocol
        return cache
