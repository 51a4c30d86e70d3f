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

Balances (see `balance` and `reservations`): a connection with credits added is metered. Its runs
`estimate` their charge before verifying, `reserve` it (or stop with InsufficientCredits), pass
the reservation to `charge`, and `release` what was not charged. `charge` without a reservation
on a metered connection reserves exactly what the batch needs first, so no path can overdraw.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene import balance, reservations
from ac_hygiene.hygiene.balance import AccountState, check_credits
from ac_hygiene.hygiene.credit_tables import (
    credit_accounts,
    credit_reservations,
    credit_topups,
)
from ac_hygiene.hygiene.db import Database, insert_many, utc_now
from ac_hygiene.hygiene.reservations import DEFAULT_TTL, Reservation, Settlement
from ac_hygiene.hygiene.tables import credit_charges, credit_refunds
from ac_hygiene.schemas import VERIFICATION_STATUSES

CHUNK_SIZE = 2_000
_LOOKUP_CHUNK = 2_000
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])(?:-01)?$")
_MAX_NAME = 200


@dataclass(frozen=True)
class ChargeSummary:
    """What one `charge` call did, in distinct addresses (duplicates and no_email in rows).

    distinct = charged + already_charged + refunded_unknown + unknown_already_refunded; the
    refunds of every run of a month add up to the refunds the ledger holds (a retried run's
    unknowns are `unknown_already_refunded`, not refunded again).
    """

    charged: int
    already_charged: int
    refunded_unknown: int
    duplicates: int
    no_email: int = 0
    free_cache_hits: int = 0
    unknown_already_refunded: int = 0

    def as_metadata(self) -> dict[str, int]:
        """Plain counts for run metadata."""
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    """What a segment's run will cost at most, known before any verification.

    needed = distinct - already_charged - free_cache_hits: every distinct address not charged
    this month may come back definite (unknowns are released after verification).
    """

    addresses: int
    distinct: int
    duplicates: int
    already_charged: int
    free_cache_hits: int
    needed: int

    def as_metadata(self) -> dict[str, int]:
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
        reservation: Reservation | None = None,
    ) -> ChargeSummary:
        """Charge a batch of verification results (at least `email`, `status`; `reason` and
        `from_cache` are used when present). Safe to call again with the same batch, or after a
        crash part-way: committed chunks are found already charged, the rest is charged.
        `progress(done, total)` is called after each committed chunk (distinct addresses).

        With a `reservation` (from `reserve`), each chunk's charges are counted against it in
        the chunk's own transaction. Without one, a metered or budgeted connection reserves
        exactly what the batch needs first (InsufficientCredits if it cannot) and releases after.
        """
        connection = _check_name(connection, "connection")
        run_id = _check_name(run_id, "run_id")
        month = normalize_month(month)
        batch = _prepare(results, charge_cache_hits=charge_cache_hits)
        if reservation is not None:
            if (reservation.connection, reservation.month) != (connection, month):
                raise ValueError(
                    f"reservation {reservation.id} is for {reservation.connection} "
                    f"{reservation.month}, not {connection} {month}"
                )
        elif self._limited(connection):
            definite = batch.keys.filter(pl.col("definite"))["key_hash"].to_list()
            needed = len(definite) - self._count_charged(connection, month, definite)
            implicit = self.reserve(connection, month, needed, run_id=run_id, segment="(batch)")
            try:
                return self.charge(
                    connection,
                    month,
                    results,
                    run_id=run_id,
                    charge_cache_hits=charge_cache_hits,
                    progress=progress,
                    reservation=implicit,
                )
            finally:
                self.release(implicit)

        keys = batch.keys.sort("key_hash")
        charged = already = refunded = again = 0
        for start in range(0, keys.height, CHUNK_SIZE):
            chunk = keys.slice(start, CHUNK_SIZE)
            now = utc_now()
            c, a, r, g = self._db.run(
                lambda conn, chunk=chunk, now=now: _charge_chunk(
                    conn, connection, month, run_id, chunk, now, reservation
                )
            )
            charged += c
            already += a
            refunded += r
            again += g
            if progress is not None:
                progress(start + chunk.height, keys.height)
        return ChargeSummary(
            charged=charged,
            already_charged=already,
            refunded_unknown=refunded,
            duplicates=batch.duplicates,
            no_email=batch.no_email,
            free_cache_hits=batch.free_cache_hits,
            unknown_already_refunded=again,
        )

    # -- balances, budgets, reservations ---------------------------------------------------

    def _limited(self, connection: str) -> bool:
        a = credit_accounts
        query = sa.select(a.c.metered, a.c.monthly_budget).where(a.c.connection == connection)
        row = self._db.run(lambda conn: conn.execute(query).first(), readonly=True)
        return row is not None and (bool(row.metered) or row.monthly_budget is not None)

    def _count_charged(self, connection: str, month: str, hashes: Sequence[str]) -> int:
        ordered = sorted(hashes)

        def count(conn: Connection) -> int:
            found = 0
            for start in range(0, len(ordered), _LOOKUP_CHUNK):
                found += conn.execute(
                    sa.select(sa.func.count()).where(
                        credit_charges.c.connection == connection,
                        credit_charges.c.month == month,
                        credit_charges.c.key_hash.in_(ordered[start : start + _LOOKUP_CHUNK]),
                    )
                ).scalar_one()
            return int(found)

        return self._db.run(count, readonly=True)

    def estimate(
        self,
        connection: str,
        month: str,
        emails: Iterable[str | None],
        *,
        free: Iterable[str] = (),
    ) -> Estimate:
        """The most a batch of `emails` can cost, before verifying it: its distinct billing keys
        not yet charged this month, less the keys in `free` (cache hits, when those are free).
        Blank addresses cost nothing and are not counted."""
        connection = _check_name(connection, "connection")
        month = normalize_month(month)
        keys = _billing_keys(emails)
        distinct = set(keys)
        free_keys = set(_billing_keys(free)) & distinct
        hashes = [_hash(k) for k in distinct - free_keys]
        already = self._count_charged(connection, month, hashes)
        return Estimate(
            addresses=len(keys),
            distinct=len(distinct),
            duplicates=len(keys) - len(distinct),
            already_charged=already,
            free_cache_hits=len(free_keys),
            needed=len(hashes) - already,
        )

    def top_up(self, connection: str, credits: int, note: str = "") -> int:
        """Add credits to a connection (it becomes metered); returns the balance after."""
        connection = _check_name(connection, "connection")
        credits = check_credits(credits)
        if not isinstance(note, str) or len(note) > 1_000:
            raise ValueError("note must be text of at most 1,000 characters")
        return self._db.run(lambda conn: balance.top_up(conn, connection, credits, note, utc_now()))

    def set_budget(self, connection: str, budget: int | None) -> None:
        """Set the connection's monthly budget in credits (None: no budget)."""
        connection = _check_name(connection, "connection")
        if budget is not None:
            budget = check_credits(budget, "budget", allow_zero=True)
        self._db.run(lambda conn: balance.set_budget(conn, connection, budget, utc_now()))

    def account(self, connection: str, month: str) -> AccountState:
        """Balance, holds, budget and the month's use, after reclaiming expired holds."""
        connection = _check_name(connection, "connection")
        month = normalize_month(month)

        def read(conn: Connection) -> AccountState:
            balance.lock_account(conn, connection)
            reservations.reclaim_expired(conn, connection, utc_now())
            return balance.account_state(conn, connection, month)

        return self._db.run(read)

    def reserve(
        self,
        connection: str,
        month: str,
        needed: int,
        *,
        run_id: str,
        segment: str,
        ttl: timedelta = DEFAULT_TTL,
    ) -> Reservation:
        """Hold `needed` credits for a run (InsufficientCredits when the balance or the month's
        budget cannot cover them). Unmetered connections get a reservation that holds nothing
        and only records the run's credits per segment."""
        connection = _check_name(connection, "connection")
        run_id = _check_name(run_id, "run_id")
        segment = _check_name(segment, "segment")
        month = normalize_month(month)
        needed = check_credits(needed, "needed", allow_zero=True)
        return self._db.run(
            lambda conn: reservations.reserve(
                conn,
                connection=connection,
                month=month,
                segment=segment,
                run_id=run_id,
                needed=needed,
                now=utc_now(),
                ttl=ttl,
            )
        )

    def renew(self, reservation: Reservation) -> bool:
        """Heartbeat of a long run: keep its hold from expiring. False if it already expired."""
        return self._db.run(lambda conn: reservations.renew(conn, reservation, utc_now()))

    def release(self, reservation: Reservation) -> Settlement:
        """Return what the reservation held and did not charge; idempotent."""
        return self._db.run(lambda conn: reservations.release(conn, reservation, utc_now()))

    def release_runs(self, connection: str, run_ids: Iterable[str]) -> int:
        """Release the holds of runs known to have ended (killed, failed, canceled)."""
        ids = list(run_ids)
        return self._db.run(
            lambda conn: reservations.release_runs(conn, connection, ids, utc_now())
        )

    def open_run_ids(self, connection: str) -> list[str]:
        """The runs holding credits of the connection right now."""
        return self._db.run(lambda conn: reservations.open_run_ids(conn, connection), readonly=True)

    def reclaim_expired(self, connection: str | None = None) -> int:
        """Reclaim every expired hold (of one connection, or all); returns how many."""
        return self._db.run(lambda conn: reservations.reclaim_expired(conn, connection, utc_now()))

    def segments(self, connection: str, month: str) -> pl.DataFrame:
        """Credits per segment of the month, from the runs' reservations: runs, charged,
        unknown refunded, credits still held."""
        month = normalize_month(month)
        r = credit_reservations
        query = (
            sa.select(
                r.c.segment,
                sa.func.count().label("runs"),
                sa.func.sum(r.c.charged).label("charged"),
                sa.func.sum(r.c.refunded).label("refunded_unknown"),
                sa.func.sum(
                    sa.case((r.c.state == "open", r.c.amount - r.c.charged), else_=0)
                ).label("held"),
            )
            .where(r.c.connection == connection, r.c.month == month)
            .group_by(r.c.segment)
            .order_by(r.c.segment)
        )
        rows = self._db.run(lambda conn: conn.execute(query).all(), readonly=True)
        return pl.DataFrame(
            [tuple(int(v) if i else v for i, v in enumerate(row)) for row in rows],
            schema={
                "segment": pl.String,
                "runs": pl.Int64,
                "charged": pl.Int64,
                "refunded_unknown": pl.Int64,
                "held": pl.Int64,
            },
            orient="row",
        )

    def topups(self, connection: str, month: str | None = None) -> pl.DataFrame:
        """Credits added to a connection (in `month`, or ever), oldest first."""
        t = credit_topups
        query = sa.select(t.c.added_at, t.c.credits, t.c.balance_after, t.c.note).where(
            t.c.connection == connection
        )
        rows = self._db.run(lambda conn: conn.execute(query.order_by(t.c.id)).all(), readonly=True)
        frame = pl.DataFrame(
            [tuple(row) for row in rows],
            schema={
                "added_at": pl.Datetime("us", "UTC"),
                "credits": pl.Int64,
                "balance_after": pl.Int64,
                "note": pl.String,
            },
            orient="row",
        )
        if month is not None:
            frame = frame.filter(pl.col("added_at").dt.strftime("%Y-%m") == normalize_month(month))
        return frame

    def connections(self) -> list[str]:
        """Every connection the ledger has credits or charges for."""
        query = sa.union(
            sa.select(credit_accounts.c.connection),
            sa.select(credit_charges.c.connection).distinct(),
        )
        return sorted(self._db.run(lambda conn: conn.execute(query).scalars().all(), readonly=True))

    def refunds_held(self, connection: str, month: str) -> int:
        """Unknown addresses of the month refunded and never charged since."""
        month = normalize_month(month)
        c, r = credit_charges, credit_refunds
        never_charged = ~sa.exists().where(
            c.c.connection == r.c.connection, c.c.month == r.c.month, c.c.key_hash == r.c.key_hash
        )
        query = sa.select(sa.func.count()).where(
            r.c.connection == connection, r.c.month == month, never_charged
        )
        return int(self._db.run(lambda conn: conn.execute(query).scalar_one(), readonly=True))

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
        res = credit_reservations

        def segment_of(table: sa.Table) -> Any:
            # the segment the charging run reserved for (one partition per run)
            return (
                sa.select(sa.func.max(res.c.segment))
                .where(
                    res.c.run_id == table.c.run_id,
                    res.c.connection == connection,
                    res.c.month == month,
                )
                .scalar_subquery()
                .label("segment")
            )

        charges = sa.select(
            c.c.billing_key,
            c.c.status,
            c.c.reason,
            sa.literal(True).label("charged"),
            c.c.run_id,
            segment_of(c),
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
            segment_of(r),
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
                "segment": pl.String,
                "recorded_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        )


def _billing_keys(emails: Iterable[str | None]) -> list[str]:
    """The non-blank billing keys of `emails`, as `billing_key_expr` computes them."""
    series = pl.Series("email", list(emails), dtype=pl.String)
    keys = pl.DataFrame([series]).select(billing_key_expr().alias("key"))["key"]
    return keys.filter(keys.fill_null("") != "").to_list()


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
    reservation: Reservation | None,
) -> tuple[int, int, int, int]:
    """One transaction: charge the definite keys, refund the unknown ones not charged before,
    and count the charges against the run's reservation. Returns (charged, already charged,
    refunded now, unknown already refunded)."""
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
        stmt = _insert(conn, credit_charges).on_conflict_do_nothing(
            index_elements=["connection", "month", "key_hash"]
        )
        charged = insert_many(conn, stmt, rows, count=True) or 0
    already_charged_unknown = 0
    refunded = 0
    uncharged_unknown = 0
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
        uncharged_unknown = len(rows)
        if rows:
            # Only refunds recorded now count as this run's: a retry's unknowns were refunded by
            # the first attempt, and counting them again would show more refunds than exist.
            stmt = _insert(conn, credit_refunds).on_conflict_do_nothing(
                index_elements=["connection", "month", "key_hash"]
            )
            refunded = insert_many(conn, stmt, rows, count=True) or 0
    if reservation is not None:
        reservations.record_chunk(conn, reservation, charged, refunded, now)
    already = definite.height - charged + already_charged_unknown
    return charged, already, refunded, uncharged_unknown - refunded
