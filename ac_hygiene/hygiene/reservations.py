"""Reservations: credits held for a run before it verifies, settled by its charges, released after.

The life of a run's credits (see `CreditLedger.reserve/charge/release`):

1. reserve: the estimate (distinct addresses not yet charged this month) is checked against the
   balance and the month's budget and taken from `available` in one transaction; two runs cannot
   both pass a check that only one of them fits, because the take is serialized on the account.
2. charge: each chunk of charges adds to the reservation's `charged` in the SAME transaction as
   the charge rows, so a crash between chunks leaves both consistent. A chunk that would charge
   more than is held (impossible from an honest estimate, possible after an expiry) takes the
   difference from the balance under the same checks, or fails and rolls back: never an overdraft.
3. release: what was held and not charged (unknown refunded, addresses another segment charged
   first, failures) goes back to `available`.

A run killed between 1 and 3 leaves an open reservation. It expires (`expires_at`, renewed while
the run progresses) and is then reclaimed by the next reserve of the connection or by `credits
show`; the orchestrator may also release reservations of runs it knows have ended. Charges the
dead run made stay charged (the verdicts were delivered to the ledger); only the unused hold
returns. A run that was merely slow and finds its reservation expired takes what it needs again
from the balance, under the same checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene import balance
from ac_hygiene.hygiene.credit_tables import credit_reservations

DEFAULT_TTL = timedelta(minutes=30)
R = credit_reservations


@dataclass(frozen=True)
class Reservation:
    """A hold on credits for one run of one segment (pass it to `charge` and `release`)."""

    id: str
    connection: str
    month: str
    segment: str
    run_id: str
    estimated: int
    metered: bool
    ttl: timedelta
    state_before: balance.AccountState


@dataclass(frozen=True)
class Settlement:
    """What a released reservation came to."""

    held: int
    charged: int
    refunded_unknown: int
    released: int  # credits returned to the balance
    balance_after: int | None  # None: unmetered


def reclaim_expired(conn: Connection, connection: str | None, now: datetime) -> int:
    """Expire open reservations past `expires_at`: their unused hold returns to the balance.
    Returns how many were reclaimed."""
    query = sa.select(R.c.id, R.c.connection, R.c.amount, R.c.charged, R.c.metered).where(
        R.c.state == "open", R.c.expires_at < now
    )
    if connection is not None:
        query = query.where(R.c.connection == connection)
    rows = conn.execute(query.order_by(R.c.id)).all()
    for row in rows:
        _close(conn, row.id, "expired", now)
    return len(rows)


def _close(conn: Connection, reservation_id: str, state: str, now: datetime) -> int:
    """Close an open reservation (locking it), returning its unused hold to the balance."""
    query = sa.select(R.c.connection, R.c.amount, R.c.charged, R.c.metered, R.c.state).where(
        R.c.id == reservation_id
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None or row.state != "open":
        return 0
    unused = row.amount - row.charged
    conn.execute(
        sa.update(R)
        .where(R.c.id == reservation_id)
        .values(state=state, amount=row.charged, closed_at=now)
    )
    if row.metered:
        balance.give_back(conn, row.connection, unused, now)
    return unused


def reserve(
    conn: Connection,
    *,
    connection: str,
    month: str,
    segment: str,
    run_id: str,
    needed: int,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> Reservation:
    """Hold `needed` credits for this run (or raise InsufficientCredits)."""
    balance.lock_account(conn, connection)
    reclaim_expired(conn, connection, now)
    # The same step of the same run retried (Dagster step retry): its earlier attempt is over.
    earlier = conn.execute(
        sa.select(R.c.id).where(
            R.c.connection == connection,
            R.c.run_id == run_id,
            R.c.segment == segment,
            R.c.month == month,
            R.c.state == "open",
        )
    ).scalars()
    for reservation_id in list(earlier):
        _close(conn, reservation_id, "settled", now)
    what = f"{connection} {month} {segment}"
    state = balance.take(conn, connection, month, needed, what)
    reservation_id = str(uuid.uuid4())
    conn.execute(
        R.insert().values(
            id=reservation_id,
            connection=connection,
            month=month,
            segment=segment,
            run_id=run_id,
            estimated=needed,
            amount=needed,
            charged=0,
            refunded=0,
            metered=state.metered,
            state="open",
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return Reservation(
        id=reservation_id,
        connection=connection,
        month=month,
        segment=segment,
        run_id=run_id,
        estimated=needed,
        metered=state.metered,
        ttl=ttl,
        state_before=state,
    )


def record_chunk(
    conn: Connection, reservation: Reservation, charged: int, refunded: int, now: datetime
) -> None:
    """Count a chunk's charges against the hold, in the chunk's transaction; extend the hold from
    the balance (checked) if the chunk charges more than is held, e.g. after an expiry."""
    expires = now + reservation.ttl
    fits = conn.execute(
        sa.update(R)
        .where(R.c.id == reservation.id, R.c.state == "open", R.c.charged + charged <= R.c.amount)
        .values(charged=R.c.charged + charged, refunded=R.c.refunded + refunded, expires_at=expires)
    ).rowcount
    if fits:
        return
    balance.lock_account(conn, reservation.connection)
    row = conn.execute(
        sa.select(R.c.amount, R.c.charged, R.c.metered).where(R.c.id == reservation.id)
    ).one()
    extra = row.charged + charged - row.amount
    what = f"{reservation.connection} {reservation.month} {reservation.segment} (past its hold)"
    state = balance.take(conn, reservation.connection, reservation.month, extra, what)
    conn.execute(
        sa.update(R)
        .where(R.c.id == reservation.id)
        .values(
            amount=R.c.amount + extra,
            charged=R.c.charged + charged,
            refunded=R.c.refunded + refunded,
            metered=state.metered,
            state="open",
            expires_at=expires,
            closed_at=None,
        )
    )


def renew(conn: Connection, reservation: Reservation, now: datetime) -> bool:
    """Push the expiry of an open reservation forward (a heartbeat); False if it had expired."""
    return bool(
        conn.execute(
            sa.update(R)
            .where(R.c.id == reservation.id, R.c.state == "open")
            .values(expires_at=now + reservation.ttl)
        ).rowcount
    )


def release(conn: Connection, reservation: Reservation, now: datetime) -> Settlement:
    """Settle the reservation: the unused hold returns to the balance. Idempotent."""
    balance.lock_account(conn, reservation.connection)
    released = _close(conn, reservation.id, "settled", now)
    row = conn.execute(
        sa.select(R.c.amount, R.c.charged, R.c.refunded, R.c.estimated).where(
            R.c.id == reservation.id
        )
    ).one()
    state = balance.account_state(conn, reservation.connection, reservation.month)
    return Settlement(
        held=int(row.estimated),
        charged=int(row.charged),
        refunded_unknown=int(row.refunded),
        released=released,
        balance_after=state.balance if state.metered else None,
    )


def release_runs(conn: Connection, connection: str, run_ids: Iterable[str], now: datetime) -> int:
    """Close the open reservations of runs known to have ended (e.g. killed, marked failed)."""
    wanted = list(set(run_ids))
    if not wanted:
        return 0
    balance.lock_account(conn, connection)
    ids = conn.execute(
        sa.select(R.c.id)
        .where(R.c.connection == connection, R.c.state == "open", R.c.run_id.in_(wanted))
        .order_by(R.c.id)
    ).scalars()
    count = 0
    for reservation_id in list(ids):
        count += 1
        _close(conn, reservation_id, "expired", now)
    return count


def open_run_ids(conn: Connection, connection: str) -> list[str]:
    """Runs holding credits of the connection right now."""
    return list(
        conn.execute(
            sa.select(R.c.run_id)
            .where(R.c.connection == connection, R.c.state == "open")
            .distinct()
            .order_by(R.c.run_id)
        ).scalars()
    )
