"""A persistent verification cache, so that monthly runs only probe what changed.

It implements the engine's `ResultCache` protocol (`ac_hygiene.verification.cache`) structurally,
in the ledger's database (its own table), keyed by `email_normalized`:

- `get_many` returns only rows checked within the freshness window (30 days by default; the
  pipeline also bounds it by the start of the month being run, so a monthly run re-probes what it
  verified last month and reuses what another segment or a re-run verified since).
- `put_many` upserts; unknown results are never stored (whatever the caller passes), because an
  unknown is no verdict and must be retried next time; nor is a row whose reason is a transient
  failure (`TRANSIENT_REASONS`: DNS error or unreliable resolver, SMTP timeout, greylisting...)
  whatever its status says, as a second line of defence against an engine that mislabels one.
  A newer result replaces an older one, an older one never overwrites a newer (two concurrent
  runs may store the same address).
- `uncache_suspect_batch` is called once a batch is complete: when the plan guard would call the
  batch suspect (a broken resolver, a blocked port 25: `hygiene.assessment.assess_batch`), every
  address of the batch is removed from the cache again. The engine stores verdicts as it goes
  (so a killed run loses little), hence the removal after the fact rather than holding writes
  back; addresses of the batch that came from the cache go too, since the guard cannot tell which
  rows the fault produced. Forgetting costs a re-probe, never a credit (the ledger charges an
  address once a month), and it is what makes the run after the fault is fixed verify again.
- Keys longer than 320 characters (more than RFC 5321 allows) are neither stored nor looked up:
  they are invalid syntax, which costs nothing to re-check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.assessment import AssessmentThresholds, PlanAssessment, assess_batch
from ac_hygiene.hygiene.db import Database, insert_many, utc_now
from ac_hygiene.hygiene.policy import CleanPolicy
from ac_hygiene.hygiene.tables import MAX_CACHE_KEY_LENGTH, verification_cache
from ac_hygiene.verification.cache import CACHED_COLUMNS, ResultCache  # the engine owns the seam

CACHEABLE_STATUSES = frozenset({"deliverable", "undeliverable", "risky"})
# Reasons that say the check failed, not what the mailbox is: never a verdict worth keeping.
TRANSIENT_REASONS = frozenset(
    {
        "dns_error",
        "dns_unreliable",
        "smtp_timeout",
        "smtp_unavailable",
        "smtp_error",
        "greylisted",
        "blocked",
        "skipped",
    }
)
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
    if (
        row["status"] not in CACHEABLE_STATUSES
        or row["reason"] in TRANSIENT_REASONS
        or not _usable_key(key)
    ):
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
                for row in conn.execute(query):  # plain tuples: a mapping per row costs more
                    found[row[0]] = dict(zip(CACHED_COLUMNS, row, strict=True))
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

    def forget(self, keys: Sequence[str]) -> int:
        """Delete the rows of `keys` whatever their age; returns how many were stored."""
        wanted = sorted({k for k in keys if _usable_key(k)})
        removed = 0
        for start in range(0, len(wanted), _CHUNK):
            query = sa.delete(verification_cache).where(
                verification_cache.c.email_normalized.in_(wanted[start : start + _CHUNK])
            )
            removed += int(self._db.run(lambda conn, query=query: conn.execute(query).rowcount))
        return removed

    def purge_expired(self) -> int:
        """Delete rows older than the freshness window (they are never returned); returns count."""
        cutoff = self._cutoff()
        query = sa.delete(verification_cache).where(verification_cache.c.checked_at < cutoff)
        return int(self._db.run(lambda conn: conn.execute(query).rowcount))


def uncache_suspect_batch(
    url: str,
    verifications: pl.DataFrame,
    policy: CleanPolicy | None = None,
    thresholds: AssessmentThresholds | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> PlanAssessment:
    """Judge a finished batch with the plan guard's rules; if suspect, remove every address of
    the batch from the cache at `url` (see the module doc) and say so through `log`. Returns the
    assessment, whose `figures["uncached"]` is the number of cache rows removed (0 if sound).
    """
    assessment = assess_batch(verifications, policy, thresholds)
    removed = 0
    if not assessment.ok:
        keys = verifications.get_column("email_normalized").drop_nulls().unique().to_list()
        with SqlResultCache(url) as cache:
            removed = cache.forget(keys)
        if log is not None:
            log(
                f"these verifications look like a verifier failure, not a dirty list "
                f"({'; '.join(f.message for f in assessment.findings)}): none of the batch's "
                f"{len(keys):,} addresses is kept in the result cache ({removed:,} rows removed), "
                "so the next run verifies them again. Fix the verifier's DNS / network first."
            )
    return PlanAssessment(assessment.findings, {**assessment.figures, "uncached": removed})


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    insert_many(conn, _upsert_statement(conn), rows)


def _upsert_statement(conn: Connection) -> sa.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(verification_cache)
    return stmt.on_conflict_do_update(
        index_elements=["email_normalized"],
        set_={c: stmt.excluded[c] for c in _VALUE_COLUMNS},
        where=verification_cache.c.checked_at <= stmt.excluded.checked_at,
    )


if TYPE_CHECKING:

    def _conforms(cache: SqlResultCache) -> ResultCache:  # a type checker verifies the protocol
        return cache
