"""Balances and monthly budgets: what a connection may still spend, read and changed in one place.

Every function here runs inside a transaction the caller opened (`Database.run`), so that a check
and the change it allows are one atomic step:

- On PostgreSQL the connection's `credit_accounts` row is locked (`SELECT ... FOR UPDATE`) before
  anything is read, so two runs checking the same balance at once are serialized; on SQLite every
  write transaction is `BEGIN IMMEDIATE`, which serializes them anyway.
- The month's use and holds are read in ONE statement, so a charge committing between two reads
  cannot make the budget look larger than it is (under READ COMMITTED each statement has its own
  snapshot; a charge moves credits from "held" to "used" in one transaction, so one snapshot
  always sees the sum right).

A connection without a row, or with `metered` false and no budget, is unmetered: nothing is
checked and nothing is taken, as before balances existed.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.credit_tables import credit_accounts, credit_reservations, credit_topups
from ac_hygiene.hygiene.tables import credit_charges

MAX_CREDITS = 10**12  # a sanity bound on one top-up or budget (a typo of many zeros)


class InsufficientCredits(RuntimeError):
    """A run needs more credits than the balance, or the month's budget, can cover.

    Raised before any verification traffic; the message says how many credits are needed, what is
    there, and the command that fixes it.
    """

    def __init__(self, message: str, *, needed: int, state: AccountState) -> None:
        super().__init__(message)
        self.needed = needed
        self.state = state


@dataclass(frozen=True)
class AccountState:
    """A connection's credits as one consistent snapshot (for one month)."""

    connection: str
    month: str
    metered: bool
    available: int  # balance not held by a running segment
    held: int  # held by open reservations (all months)
    monthly_budget: int | None
    used_this_month: int  # credits charged this month (metered or not)
    held_this_month: int

    @property
    def balance(self) -> int:
        """Credits added minus credits charged (what the customer owns, held or not)."""
        return self.available + self.held

    @property
    def budget_left(self) -> int | None:
        if self.monthly_budget is None:
            return None
        return max(0, self.monthly_budget - self.used_this_month - self.held_this_month)

    @property
    def limited(self) -> bool:
        """True when a charge must be checked (a balance, or a budget, applies)."""
        return self.metered or self.monthly_budget is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"balance": self.balance, "budget_left": self.budget_left}


def check_credits(value: object, what: str = "credits", *, allow_zero: bool = False) -> int:
    """A whole, positive number of credits (zero only where allowed), or a clear ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'0 or more' if allow_zero else 'positive'}, got {value}")
    if value > MAX_CREDITS:
        raise ValueError(f"{what} must be at most {MAX_CREDITS:,}, got {value:,}")
    return value


def _insert(conn: Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def lock_account(conn: Connection, connection: str) -> bool:
    """Lock the connection's account row (PostgreSQL); True when it exists."""
    query = sa.select(credit_accounts.c.connection).where(
        credit_accounts.c.connection == connection
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first() is not None


def account_state(conn: Connection, connection: str, month: str) -> AccountState:
    """One snapshot of balance, holds, budget and the month's use (one SQL statement)."""
    a, r, c = credit_accounts, credit_reservations, credit_charges
    open_rows = sa.and_(r.c.connection == connection, r.c.state == "open", r.c.metered)
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(r.c.amount - r.c.charged), 0))
        .where(open_rows)
        .scalar_subquery()
    )
    held_month = (
        sa.select(sa.func.coalesce(sa.func.sum(r.c.amount - r.c.charged), 0))
        .where(r.c.connection == connection, r.c.state == "open", r.c.month == month)
        .scalar_subquery()
    )
    used = (
        sa.select(sa.func.count())
        .select_from(c)
        .where(c.c.connection == connection, c.c.month == month)
        .scalar_subquery()
    )
    account = (
        sa.select(a.c.metered, a.c.available, a.c.monthly_budget)
        .where(a.c.connection == connection)
        .subquery()
    )
    row = conn.execute(
        sa.select(
            sa.select(account.c.metered).scalar_subquery(),
            sa.select(account.c.available).scalar_subquery(),
            sa.select(account.c.monthly_budget).scalar_subquery(),
            held,
            held_month,
            used,
        )
    ).one()
    metered, available, budget, held_all, held_this, used_this = row
    return AccountState(
        connection=connection,
        month=month,
        metered=bool(metered),
        available=int(available or 0),
        held=int(held_all) if metered else 0,
        monthly_budget=None if budget is None else int(budget),
        used_this_month=int(used_this),
        held_this_month=int(held_this),
    )


def refusal(state: AccountState, needed: int, what: str) -> str | None:
    """Why `needed` more credits cannot be taken now, or None when they can."""
    conn = shlex.quote(state.connection)
    if state.metered and needed > state.available:
        held = (
            f" ({state.held:,} of it held by running segments, {state.available:,} available)"
            if state.held
            else ""
        )
        return (
            f"{what} needs {needed:,} credits, balance {state.balance:,}{held}: add credits with "
            f"`ac-hygiene credits add --connection {conn} {needed - state.available}`"
        )
    left = state.budget_left
    if left is not None and needed > left:
        return (
            f"{what} needs {needed:,} credits, {left:,} left of {state.month}'s budget of "
            f"{state.monthly_budget:,} ({state.used_this_month:,} used, "
            f"{state.held_this_month:,} held by running segments): raise it with "
            f"`ac-hygiene credits budget --connection {conn} "
            f"{state.used_this_month + state.held_this_month + needed}`"
        )
    return None


def take(conn: Connection, connection: str, month: str, needed: int, what: str) -> AccountState:
    """Check and take `needed` credits from the available balance (metered connections), or
    raise InsufficientCredits. The caller records the hold in a reservation row in the same
    transaction. Returns the state before the take."""
    lock_account(conn, connection)
    state = account_state(conn, connection, month)
    if needed <= 0 or not state.limited:
        return state
    reason = refusal(state, needed, what)
    if reason is not None:
        raise InsufficientCredits(reason, needed=needed, state=state)
    if state.metered:
        conn.execute(
            sa.update(credit_accounts)
            .where(credit_accounts.c.connection == connection)
            .values(available=credit_accounts.c.available - needed)
        )
    return state


def give_back(conn: Connection, connection: str, credits: int, now: datetime) -> None:
    """Return unused held credits to the available balance (a metered reservation's leftover)."""
    if credits <= 0:
        return
    conn.execute(
        sa.update(credit_accounts)
        .where(credit_accounts.c.connection == connection)
        .values(available=credit_accounts.c.available + credits, updated_at=now)
    )


def top_up(conn: Connection, connection: str, credits: int, note: str, now: datetime) -> int:
    """Add credits (the connection becomes metered); returns the balance after."""
    stmt = _insert(conn, credit_accounts).values(
        connection=connection, metered=True, available=credits, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection"],
        set_={
            "metered": True,
            "available": credit_accounts.c.available + credits,
            "updated_at": now,
        },
    )
    conn.execute(stmt)
    balance = account_state(conn, connection, "0000-00").balance
    conn.execute(
        credit_topups.insert().values(
            connection=connection,
            credits=credits,
            note=note,
            balance_after=balance,
            added_at=now,
        )
    )
    return balance


def set_budget(conn: Connection, connection: str, budget: int | None, now: datetime) -> None:
    """Set (or with None remove) the connection's monthly budget."""
    stmt = _insert(conn, credit_accounts).values(
        connection=connection, metered=False, available=0, monthly_budget=budget, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection"], set_={"monthly_budget": budget, "updated_at": now}
    )
    conn.execute(stmt)
