"""The tables of the ledger/cache database (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Billing keys are unique through their SHA-256 (`key_hash`), not the text itself: the engine
answers for any input, including 10 KB strings that are charged as verified (invalid syntax), and
a PostgreSQL B-tree entry cannot exceed ~2.7 KB. Times are stored as naive UTC (`UtcDateTime`)
because SQLite has no time zones; they come back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

#: Bump when a table changes; `Database` refuses a database written by a newer version.
SCHEMA_VERSION = 1

#: The longest address worth caching: RFC 5321 allows 64 + 1 + 255 octets.
MAX_CACHE_KEY_LENGTH = 320


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, stored naive so SQLite and PostgreSQL compare alike."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

# One row per address charged (connection, month): the unique constraint IS the billing rule.
credit_charges = sa.Table(
    "credit_charges",
    metadata,
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("billing_key", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("charged_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("connection", "month", "key_hash", name="pk_credit_charges"),
)

# One row per address whose first result of the month was unknown (refunded). An address that is
# later charged keeps its refund row; statements show it as charged.
credit_refunds = sa.Table(
    "credit_refunds",
    metadata,
    sa.Column("connection", sa.String(200), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("billing_key", sa.Text, nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.PrimaryKeyConstraint("connection", "month", "key_hash", name="pk_credit_refunds"),
)

verification_cache = sa.Table(
    "verification_cache",
    metadata,
    sa.Column("email_normalized", sa.String(MAX_CACHE_KEY_LENGTH), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("is_disposable", sa.Boolean, nullable=False),
    sa.Column("is_role", sa.Boolean, nullable=False),
    sa.Column("is_free", sa.Boolean, nullable=False),
    sa.Column("is_catch_all", sa.Boolean, nullable=False),
    sa.Column("suggestion", sa.Text, nullable=True),
    sa.Column("mx_host", sa.Text, nullable=True),
    sa.Column("smtp_code", sa.Integer, nullable=True),
    sa.Column("checked_at", UtcDateTime, nullable=False, index=True),
)
