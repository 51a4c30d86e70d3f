"""The tables of balances, top-ups and reservations (on the ledger's `metadata`, created with it).

Kept apart from `tables.py` (charges, refunds, cache) because they are about money the customer
put in, not about what was verified. They are additive: a ledger database of an earlier version
gets them at its next use (`create_all` with `checkfirst`), and a connection without a row in
`credit_accounts` is unmetered, exactly as before balances existed.

- `credit_accounts`: one row per metered or budgeted connection. `available` is the balance not
  held by an open reservation; the CHECK constraint makes an overdraft impossible whatever the
  code above it does (a transaction that would take it below zero fails and rolls back).
- `credit_topups`: every `credits add`, with the balance after it, for the statement.
- `credit_reservations`: one row per (run, segment) billing attempt: credits held before
  verification (`amount`), charged so far (`charged`, updated in the same transaction as the
  charges it counts), unknown refunded. An open row holds `amount - charged` credits; a row whose
  run died is reclaimed when it expires (`expires_at`, renewed while the run makes progress).
"""

from __future__ import annotations

import sqlalchemy as sa

from ac_hygiene.hygiene.tables import UtcDateTime, metadata

credit_accounts = sa.Table(
    "credit_accounts",
    metadata,
    sa.Column("connection", sa.String(200), primary_key=True),
    # True once credits were added: from then on every charge needs credits.
    sa.Column("metered", sa.Boolean, nullable=False),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("monthly_budget", sa.BigInteger, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("available >= 0", name="ck_credit_accounts_no_overdraft"),
    sa.CheckConstraint(
        "monthly_budget IS NULL OR monthly_budget >= 0", name="ck_credit_accounts_budget"
    ),
)

credit_topups = sa.Table(
    "credit_topups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(200), nullable=False, index=True),
    sa.Column("credits", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("credits > 0", name="ck_credit_topups_positive"),
)

credit_reservations = sa.Table(
    "credit_reservations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("segment", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False, index=True),
    # what the estimate said before verification
    sa.Column("estimated", sa.BigInteger, nullable=False),
    # credits taken from `available` so far (estimate, plus any extension); never less than charged
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("charged", sa.BigInteger, nullable=False),
    sa.Column("refunded", sa.BigInteger, nullable=False),
    sa.Column("metered", sa.Boolean, nullable=False),
    # open | settled | expired
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("charged <= amount", name="ck_credit_reservations_within_amount"),
    sa.Index("ix_credit_reservations_open", "connection", "state", "month"),
)
