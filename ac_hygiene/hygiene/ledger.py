"""The credits ledger: 1 credit per distinct address per connection per month, unknown refunded.

The billing rule is the database's unique key (connection, month, billing key) and every charge is
an `INSERT ... ON CONFLICT DO NOTHING`, so charging is idempotent (a retried or re-run step charges
nothing twice) and safe under concurrent runs (two segments of the same month sharing contacts
race on the key; exactly one insert wins). The work is done in chunks, one transaction each, with
keys sorted so that concurrent PostgreSQL transactions take their row locks in the same order.

Rules, as the product states them:
- Billing key: the email trimmed and lower-cased. Deliberately NOT provider-aware (`J.Doe@gmail`
  and `jdoe@gmail` are two credits), as the product documents.
- Unknown results are refunded: they are recorded (so the statement shows them) but not charged.
- Duplicates in one batch are charged once; the same address in two segments of the same month
  is charged once.
- An address charged as definite earlier in the month that comes back unknown later STAYS charged:
  the credit paid for a verdict the customer already received. An address that was unknown
  earlier (refunded) and is definite now is charged now.
- Rows without a usable email (null or blank) are never charged: nothing was verified.
- Cache hits (`from_cache` true) are charged like fresh results by default, because the rule is
  per connection and per month and the cache is shared by all connections; what the cache saves
  is probing. `charge(..., charge_cache_hits=False)` makes reused results free instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.db import Database, utc_now
from ac_hygiene.hygiene.tables import credit_charges, credit_refunds
from ac_hygiene.schemas import VERIFICATION_STATUSES

CHUNK_SIZE = 2_000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(?:-01)?$")
_MAX_NAME = 200


@dataclass(frozen=True)
class ChargeSummary:
    """What one `charge` call did, in distinct addresses (duplicates and no_email in rows)."""

    charged: int
    already_charged: int
    refunded_unknown: int
    duplicates: int
    no_email: int = 0
    free_cache_hits: int = 0

    def as_metadata(self) -> dict[str, int]:
        """Plain counts for run metadata."""
        return asdict(self)


def billing_key_expr(column: str = "email") -> pl.Expr:
    """The product's billing key: trimmed, lower-cased; not provider-aware."""
    return pl.col(column).str.strip_chars().str.to_lowercase()


def normalize_month(month: str) -> str:
    """`YYYY-MM` from `YYYY-MM` or a Dagster monthly partition key `YYYY-MM-01`."""
    match = _MONTH.match(month) if isinstance(month, str) else None
    if not match:
        raise ValueError(
            f"month must look like 'YYYY-MM' (or a monthly partition key 'YYYY-MM-01'), "
            f"got {month!r}"
        )
    return f"{match.group(1)}-{match.group(2)}"


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_NAME:
        raise ValueError(f"{what} is longer than {_MAX_NAME} characters")
    return value


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _storable_text(key: str) -> str:
    """The billing key as stored for statements. PostgreSQL text cannot hold NUL (the driver
    refuses the whole insert), so NUL is shown as U+FFFD on every backend; uniqueness is on the
    hash of the real key, so this never merges two keys."""
    return key.replace("\x00", "\ufffd")


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which carries ON CONFLICT on both SQLite and PostgreSQL."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class CreditLedger:
    """Credits charged per connection and month, in the ledger database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self._db = Database(url)

    def __repr__(self) -> str:
        return f"CreditLedger({self._db.masked_url!r})"

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> CreditLedger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def charge(
        self,
        connection: str,
        month: str,
        results: pl.DataFrame,
        *,
        run_id: str,
        charge_cache_hits: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> ChargeSummary:
        """Charge a batch of verification results (at least `email`, `status`; `reason` and
        `from_cache` are used when present). Safe to call again with the same batch, or after a
        crash part-way: committed chunks are found already charged, the rest is charged.
        `progress(done, total)` is called after each committed chunk (distinct addresses)."""
        connection = _check_name(connection, "connection")
        run_id = _check_name(run_id, "run_id")
        month = normalize_month(month)
        batch = _prepare(results, charge_cache_hits=charge_cache_hits)

        keys = batch.keys.sort("key_hash")
        charged = already = refunded = 0
        for start in range(0, keys.height, CHUNK_SIZE):
            chunk = keys.slice(start, CHUNK_SIZE)
            now = utc_now()
            c, a, r = self._db.run(
                lambda conn, chunk=chunk, now=now: _charge_chunk(
                    conn, connection, month, run_id, chunk, now
                )
            )
            charged += c
            already += a
            refunded += r
            if progress is not None:
                progress(start + chunk.height, keys.height)
        return ChargeSummary(
            charged=charged,
            already_charged=already,
            refunded_unknown=refunded,
            duplicates=batch.duplicates,
            no_email=batch.no_email,
            free_cache_hits=batch.free_cache_hits,
        )

    def credits_used(self, connection: str, month: str) -> int:
        """Credits charged to a connection in a month."""
        month = normalize_month(month)
        query = sa.select(sa.func.count()).where(
            credit_charges.c.connection == connection, credit_charges.c.month == month
        )
        return int(self._db.run(lambda conn: conn.execute(query).scalar_one(), readonly=True))

    def statement(self, connection: str, month: str) -> pl.DataFrame:
        """Every address of the month: charged ones, and refunded ones never charged since."""
        month = normalize_month(month)
        c, r = credit_charges, credit_refunds
        charges = sa.select(
            c.c.billing_key,
            c.c.status,
            c.c.reason,
            sa.literal(True).label("charged"),
            c.c.run_id,
            c.c.charged_at.label("recorded_at"),
        ).where(c.c.connection == connection, c.c.month == month)
        never_charged = ~sa.exists().where(
            c.c.connection == r.c.connection, c.c.month == r.c.month, c.c.key_hash == r.c.key_hash
        )
        refunds = sa.select(
            r.c.billing_key,
            sa.literal("unknown").label("status"),
            r.c.reason,
            sa.literal(False).label("charged"),
            r.c.run_id,
            r.c.recorded_at,
        ).where(r.c.connection == connection, r.c.month == month, never_charged)
        query = sa.union_all(charges, refunds).subquery()
        rows = self._db.run(
            lambda conn: conn.execute(sa.select(query).order_by(query.c.billing_key)).all(),
            readonly=True,
        )
        return pl.DataFrame(
            [tuple(row) for row in rows],
            schema={
                "billing_key": pl.String,
                "status": pl.String,
                "reason": pl.String,
                "charged": pl.Boolean,
                "run_id": pl.String,
                "recorded_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        )


@dataclass(frozen=True)
class _Batch:
    keys: pl.DataFrame  # key_hash, billing_key, definite, status, reason
    duplicates: int
    no_email: int
    free_cache_hits: int


def _prepare(results: pl.DataFrame, *, charge_cache_hits: bool) -> _Batch:
    """Reduce a results frame to one row per billing key (definite if any row is definite)."""
    missing = [c for c in ("email", "status") if c not in results.columns]
    if missing:
        raise ValueError(
            f"results frame lacks column(s) {', '.join(missing)}: pass the verification "
            "engine's output (at least email and status)"
        )
    bad = results.filter(
        ~pl.col("status").is_in(VERIFICATION_STATUSES) | pl.col("status").is_null()
    )
    if bad.height:
        raise ValueError(
            f"{bad.height} result(s) have a status outside {', '.join(VERIFICATION_STATUSES)}, "
            f"e.g. {bad['status'][0]!r}"
        )
    frame = results.select(
        billing_key_expr().alias("billing_key"),
        pl.col("status"),
        (pl.col("reason") if "reason" in results.columns else pl.col("status")).alias("reason"),
        (pl.col("from_cache") if "from_cache" in results.columns else pl.lit(False)).alias("hit"),
    )
    with_email = frame.filter(pl.col("billing_key").fill_null("") != "")
    no_email = frame.height - with_email.height
    free_cache_hits = 0
    if not charge_cache_hits:
        fresh = with_email.filter(~pl.col("hit").fill_null(False))
        free_cache_hits = with_email.height - fresh.height
        with_email = fresh
    keys = with_email.group_by("billing_key").agg(
        (pl.col("status") != "unknown").any().alias("definite"),
        # the verdict shown on the statement: a definite one when there is one
        pl.col("status").sort_by(pl.col("status") == "unknown").first().alias("status"),
        pl.col("reason").sort_by(pl.col("status") == "unknown").first().alias("reason"),
    )
    hashes = [_hash(key) for key in keys["billing_key"].to_list()]
    keys = keys.with_columns(pl.Series("key_hash", hashes, dtype=pl.String))
    return _Batch(
        keys=keys,
        duplicates=with_email.height - keys.height,
        no_email=no_email,
        free_cache_hits=free_cache_hits,
    )


def _charge_chunk(
    conn: Connection,
    connection: str,
    month: str,
    run_id: str,
    chunk: pl.DataFrame,
    now: Any,
) -> tuple[int, int, int]:
    """One transaction: charge the definite keys, refund the unknown ones not charged before."""
    definite = chunk.filter(pl.col("definite"))
    unknown = chunk.filter(~pl.col("definite"))
    charged = 0
    if definite.height:
        rows = [
            {
                "connection": connection,
                "month": month,
                "key_hash": h,
                "billing_key": _storable_text(k),
                "status": s,
                "reason": r,
                "run_id": run_id,
                "charged_at": now,
            }
            for h, k, s, r in definite.select("key_hash", "billing_key", "status", "reason").rows()
        ]
        stmt = (
            _insert(conn, credit_charges)
            .on_conflict_do_nothing(index_elements=["connection", "month", "key_hash"])
            .returning(credit_charges.c.key_hash)
        )
        charged = len(conn.execute(stmt, rows).all())
    already_charged_unknown = 0
    refunded = 0
    if unknown.height:
        hashes = unknown["key_hash"].to_list()
        charged_before = set(
            conn.execute(
                sa.select(credit_charges.c.key_hash).where(
                    credit_charges.c.connection == connection,
                    credit_charges.c.month == month,
                    credit_charges.c.key_hash.in_(hashes),
                )
            ).scalars()
        )
        already_charged_unknown = len(charged_before)
        rows = [
            {
                "connection": connection,
                "month": month,
                "key_hash": h,
                "billing_key": _storable_text(k),
                "reason": r or "unknown",
                "run_id": run_id,
                "recorded_at": now,
            }
            for h, k, r in unknown.select("key_hash", "billing_key", "reason").rows()
            if h not in charged_before
        ]
        refunded = len(rows)
        if rows:
            stmt = _insert(conn, credit_refunds).on_conflict_do_nothing(
                index_elements=["connection", "month", "key_hash"]
            )
            conn.execute(stmt, rows)
    already = definite.height - charged + already_charged_unknown
    return charged, already, refunded
