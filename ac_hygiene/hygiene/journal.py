"""The apply journal: what the apply step is about to send, and what came of it.

One row per (connection, partition, contact) in the ledger database (SQLite by default,
PostgreSQL when `AC_HYGIENE_LEDGER_URL` says so), written **before** an action is sent
(`sending`) and **after** its answer (`done` / `skipped` / `failed`). A run killed anywhere leaves
rows in `pending` (not sent: do them), `sending` (sent, answer lost: re-check the account before
re-sending anything) or `unknown` (an import batch whose status could not be read: its batch id is
kept). A finished row is never acted on again, so a re-run finishes the remaining actions
without repeating any.

The tables live in their own SQLAlchemy MetaData (created on first use beside the ledger's),
so this module changes nothing in the ledger's schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ac_hygiene.hygiene.db import Database, utc_now

PENDING, SENDING, UNKNOWN = "pending", "sending", "unknown"
DONE, SKIPPED, FAILED = "done", "skipped", "failed"
FINAL_STATES = frozenset({DONE, SKIPPED, FAILED})
OPEN_STATES = frozenset({PENDING, SENDING, UNKNOWN})
_SCHEMA_LOCK = 7_346_112_902

journal_metadata = sa.MetaData()

apply_journal = sa.Table(
    "apply_journal",
    journal_metadata,
    sa.Column("connection", sa.String(64), primary_key=True),
    sa.Column("partition", sa.String(200), primary_key=True),
    sa.Column("contact_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("list_ids", sa.Text, nullable=False),  # JSON array: what an unsubscribe touches
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("batch_id", sa.String(100), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),  # the run that last sent or settled it
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class JournalRow:
    contact_id: int
    action: str
    category: str
    email: str | None
    list_ids: tuple[int, ...]
    state: str
    detail: str | None
    batch_id: str | None
    run_id: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Mark:
    """A state change for one contact."""

    contact_id: int
    state: str
    detail: str | None = None
    batch_id: str | None = None


class ApplyJournal:
    """`with ApplyJournal(url) as journal: journal.register(...); journal.mark(...)`."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.db.run(self._ensure_schema)

    def __enter__(self) -> ApplyJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.dispose()

    def _ensure_schema(self, conn: Connection) -> None:
        if not self.db.is_sqlite:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        journal_metadata.create_all(conn, checkfirst=True)

    # -- writing --------------------------------------------------------------------------
    def register(self, connection: str, partition: str, rows: Iterable[dict[str, object]]) -> int:
        """Add the plan's rows that are not journaled yet (state `pending`); returns how many.

        Rows already there keep their state: a re-run never resets what was done.
        """
        now = utc_now()
        values = [
            {
                "connection": connection,
                "partition": partition,
                "contact_id": int(row["contact_id"]),  # type: ignore[call-overload]
                "action": str(row["action"]),
                "category": str(row["category"]),
                "email": row.get("email"),
                "list_ids": json.dumps(sorted(int(i) for i in row.get("list_ids") or [])),  # type: ignore[union-attr]
                "state": PENDING,
                "updated_at": now,
            }
            for row in rows
        ]
        if not values:
            return 0
        dialect = sqlite if self.db.is_sqlite else postgresql

        def work(conn: Connection) -> int:
            added = 0
            for start in range(0, len(values), 2000):
                chunk = values[start : start + 2000]
                stmt = dialect.insert(apply_journal).on_conflict_do_nothing()
                added += conn.execute(stmt, chunk).rowcount or 0
            return added

        return self.db.run(work)

    def replan(self, connection: str, partition: str, rows: Iterable[dict[str, object]]) -> int:
        """Bring finished rows in line with a plan made again; returns how many were reopened.

        A row whose action or lists changed (the plan was rebuilt, e.g. after re-verifying) is
        reopened with the new action; a `failed` row (certainly not applied) is reopened to be
        tried again. `done` / `skipped` rows of an unchanged action stay finished (never twice),
        and rows in flight (`sending`, `unknown`) are left for the recovery to settle first.
        """
        existing = {r.contact_id: r for r in self.rows(connection, partition)}
        reopen: list[dict[str, object]] = []
        for row in rows:
            old = existing.get(int(row["contact_id"]))  # type: ignore[call-overload]
            if old is None or old.state not in FINAL_STATES:
                continue
            lists = tuple(sorted(int(i) for i in row.get("list_ids") or []))  # type: ignore[union-attr]
            changed = old.action != row["action"] or old.list_ids != lists
            if changed or old.state == FAILED:
                reopen.append({**row, "list_ids": lists})
        if not reopen:
            return 0
        now = utc_now()
        t = apply_journal.c
        stmt = (
            apply_journal.update()
            .where(
                t.connection == connection,
                t.partition == partition,
                t.contact_id == sa.bindparam("b_contact_id"),
            )
            .values(
                action=sa.bindparam("b_action"),
                category=sa.bindparam("b_category"),
                email=sa.bindparam("b_email"),
                list_ids=sa.bindparam("b_list_ids"),
                state=PENDING,
                detail="reopened: plan changed or last attempt failed",
                batch_id=None,
                updated_at=now,
            )
        )
        params = [
            {
                "b_contact_id": int(r["contact_id"]),  # type: ignore[call-overload]
                "b_action": str(r["action"]),
                "b_category": str(r["category"]),
                "b_email": r.get("email"),
                "b_list_ids": json.dumps(list(r["list_ids"])),  # type: ignore[call-overload]
            }
            for r in reopen
        ]
        self.db.run(lambda conn: conn.execute(stmt, params))
        return len(reopen)

    def mark(
        self, connection: str, partition: str, marks: Sequence[Mark], run_id: str | None
    ) -> None:
        """Record state changes in one transaction (durable before this returns)."""
        if not marks:
            return
        now = utc_now()
        t = apply_journal.c
        stmt = (
            apply_journal.update()
            .where(
                t.connection == sa.bindparam("b_connection"),
                t.partition == sa.bindparam("b_partition"),
                t.contact_id == sa.bindparam("b_contact_id"),
            )
            .values(
                state=sa.bindparam("b_state"),
                detail=sa.bindparam("b_detail"),
                batch_id=sa.bindparam("b_batch_id"),
                run_id=sa.bindparam("b_run_id"),
                updated_at=sa.bindparam("b_updated_at"),
            )
        )
        params = [
            {
                "b_connection": connection,
                "b_partition": partition,
                "b_contact_id": m.contact_id,
                "b_state": m.state,
                "b_detail": m.detail,
                "b_batch_id": m.batch_id,
                "b_run_id": run_id,
                "b_updated_at": now,
            }
            for m in marks
        ]
        self.db.run(lambda conn: conn.execute(stmt, params))

    # -- reading --------------------------------------------------------------------------
    def rows(self, connection: str, partition: str) -> list[JournalRow]:
        return self._rows(connection, apply_journal.c.partition == partition)

    def rows_of_run(self, connection: str, run_id: str) -> list[JournalRow]:
        return self._rows(connection, apply_journal.c.run_id == run_id)

    def _rows(self, connection: str, condition: sa.ColumnElement[bool]) -> list[JournalRow]:
        t = apply_journal.c
        query = (
            sa.select(apply_journal)
            .where(t.connection == connection, condition)
            .order_by(t.contact_id)
        )

        def work(conn: Connection) -> list[JournalRow]:
            return [_row(r) for r in conn.execute(query).mappings()]

        return self.db.run(work, readonly=True)


def _row(r: sa.RowMapping) -> JournalRow:
    return JournalRow(
        contact_id=int(r["contact_id"]),
        action=r["action"],
        category=r["category"],
        email=r["email"],
        list_ids=tuple(json.loads(r["list_ids"] or "[]")),
        state=r["state"],
        detail=r["detail"],
        batch_id=r["batch_id"],
        run_id=r["run_id"],
        updated_at=r["updated_at"],
    )
