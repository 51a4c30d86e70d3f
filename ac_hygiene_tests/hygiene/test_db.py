"""Opening the ledger database: URLs, clear errors without passwords, schema version, SQLite."""

from __future__ import annotations

import socket
import sqlite3
import traceback
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ac_hygiene.hygiene import (
    CreditLedger,
    LedgerDatabaseError,
    SqlResultCache,
    address_book,
    cache,
    default_ledger_url,
    mask_url,
)
from ac_hygiene.hygiene.db import Database, _driver_statement, insert_many
from ac_hygiene.hygiene.ledger import _insert
from ac_hygiene.hygiene.tables import (
    SCHEMA_VERSION,
    credit_charges,
    credit_refunds,
    verification_cache,
)

SECRET = "s3cr3t-Pa55"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raw_engine(db_url: str) -> sa.Engine:
    """A plain engine on the test database, to look at or tamper with what the ledger wrote."""
    driver = "postgresql+psycopg2" if db_url.startswith("postgresql") else "sqlite"
    return sa.create_engine(make_url(db_url).set(drivername=driver))


def _full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_unreachable_postgres_is_a_clear_error_without_the_password():
    url = f"postgresql://hygiene:{SECRET}@127.0.0.1:{_free_port()}/ledger"
    with pytest.raises(LedgerDatabaseError) as caught:
        CreditLedger(url)
    message = str(caught.value)
    assert "cannot use the ledger database postgresql+psycopg2://hygiene:***@127.0.0.1" in message
    assert "Connection refused" in message or "connection refused" in message.lower()
    assert SECRET not in _full_text(caught.value)


@pytest.mark.postgres
def test_missing_postgres_database_is_a_clear_error_without_the_password(postgres_url):
    url = make_url(postgres_url).set(password=SECRET, database="no_such_ledger_db")
    with pytest.raises(
        LedgerDatabaseError, match='database "no_such_ledger_db" does not exist'
    ) as caught:
        SqlResultCache(url.render_as_string(hide_password=False))
    assert SECRET not in _full_text(caught.value)


@pytest.mark.postgres
def test_postgres_urls_without_driver_use_psycopg2(pg_url):
    bare = pg_url.replace("postgresql://", "postgres://", 1)
    with CreditLedger(bare) as ledger:
        assert "postgresql+psycopg2://" in repr(ledger)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "URL is empty"),
        ("not a url", "cannot parse"),
        (
            f"mysql://root:{SECRET}@localhost/db",
            "unsupported ledger database mysql://root:\\*\\*\\*@",
        ),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
    ],
)
def test_bad_urls_are_refused_with_advice(url, match):
    with pytest.raises(LedgerDatabaseError, match=match) as caught:
        CreditLedger(url)
    assert SECRET not in _full_text(caught.value)


def test_repr_masks_the_password():
    assert mask_url(f"postgresql://u:{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert SECRET not in mask_url(f"postgresql://u:{SECRET}@h:5432/db?sslmode=require")


def test_sqlite_file_and_its_folder_are_created_in_wal_mode(tmp_path):
    path = tmp_path / "nested" / "folder" / "ledger.sqlite"
    with CreditLedger(f"sqlite:///{path}"):
        pass
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"credit_charges", "credit_refunds", "verification_cache", "schema_version"} <= tables


def test_default_url_is_a_file_under_data(tmp_path):
    assert default_ledger_url() == "sqlite:///data/ledger.sqlite"
    url = default_ledger_url(tmp_path)
    with CreditLedger(url):
        pass
    assert (tmp_path / "ledger.sqlite").exists()


def test_schema_version_is_recorded_once(db_url):
    for _ in range(3):
        CreditLedger(db_url).close()
    engine = _raw_engine(db_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT version FROM schema_version").all()
    engine.dispose()
    assert rows == [(SCHEMA_VERSION,)]


def test_a_database_from_a_newer_version_is_refused(db_url):
    CreditLedger(db_url).close()
    engine = _raw_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO schema_version (version, applied_at) VALUES (99, '2030-01-01 00:00:00')"
        )
    engine.dispose()
    with pytest.raises(LedgerDatabaseError, match="schema version 99, newer than this code's"):
        CreditLedger(db_url)


# -- insert_many: the driver's executemany on SQLite stores exactly what SQLAlchemy stores ------


def _stored(db: Database, table: sa.Table) -> list[tuple]:
    """The rows as the database holds them (SQLite: datetimes as the text SQLAlchemy wrote)."""
    key = [column.name for column in table.primary_key.columns]
    query = f"SELECT * FROM {table.name} ORDER BY {', '.join(key)}"
    return db.run(lambda conn: [tuple(row) for row in conn.exec_driver_sql(query)])


def _both_ways(db: Database, table: sa.Table, make_stmt, rows: list[dict]) -> None:
    """insert_many and SQLAlchemy's own executemany leave the same rows, twice in a row (the
    second time through the statement's ON CONFLICT clause)."""
    results = []
    for fast in (True, False):
        db.run(lambda conn: conn.execute(table.delete()))
        for batch in (rows, [dict(row, **BUMP.get(table.name, {})) for row in rows]):

            def write(conn, batch=batch, fast=fast):
                stmt = make_stmt(conn)
                if fast:
                    insert_many(conn, stmt, batch)
                else:
                    conn.execute(stmt, batch)

            db.run(write)
        results.append(_stored(db, table))
    assert results[0] == results[1]
    assert len(results[0]) == len(rows)


_WHEN = [
    datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),  # no microseconds: still written with them
    datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2))),  # stored as UTC
    pl.Series([datetime(2026, 3, 2, 8, 15, 1, 999_999)], dtype=pl.Datetime("us", "UTC"))[0],
]
BUMP = {
    "contact_addresses": {"key_hash": "changed", "updated_at": datetime(2027, 1, 1, tzinfo=UTC)},
    "verification_cache": {"status": "risky", "checked_at": datetime(2027, 1, 1, tzinfo=UTC)},
}


def test_insert_many_stores_what_sqlalchemy_stores(db_url):
    db = Database(db_url)
    db.run(lambda conn: address_book.metadata.create_all(conn))
    now = datetime(2026, 3, 5, 9, 0, 0, 123_456, tzinfo=UTC)
    charges = [
        {
            "connection": "acme",
            "month": "2026-03",
            "key_hash": f"{i:064x}",
            "billing_key": key,
            "status": "deliverable",
            "reason": "accepted",
            "run_id": "run-1",
            "charged_at": now,
        }
        for i, key in enumerate(["a@b.com", "jürgen@bücher.de", "x" * 5_000, "\ufffd@nul.com"])
    ]

    def charge_stmt(conn):
        return _insert(conn, credit_charges).on_conflict_do_nothing(
            index_elements=["connection", "month", "key_hash"]
        )

    _both_ways(db, credit_charges, charge_stmt, charges)
    contacts = [
        {
            "connection": "acme",
            "contact_id": 10**12 + i,
            "key_hash": None if i == 1 else f"{i:064x}",
            "updated_at": None if i == 2 else when,
            "recorded_at": now,
        }
        for i, when in enumerate(_WHEN)
    ]
    _both_ways(db, address_book.contact_addresses, address_book._upsert_statement, contacts)
    cached = [
        {
            "email_normalized": f"user{i}@acme.com",
            "status": "deliverable",
            "reason": "accepted",
            "is_disposable": i == 0,
            "is_role": i == 1,
            "is_free": False,
            "is_catch_all": i == 3,
            "suggestion": None if i else "user0@gmail.com",
            "mx_host": "mx.acme.com",
            "smtp_code": None if i == 2 else 250,
            "checked_at": when,
        }
        for i, when in enumerate(_WHEN)
    ]
    _both_ways(db, verification_cache, cache._upsert_statement, cached)
    db.dispose()


def test_insert_many_counts_the_rows_inserted_not_the_conflicts(db_url):
    db = Database(db_url)
    now = datetime(2026, 3, 5, tzinfo=UTC)

    def rows(keys):
        return [
            {
                "connection": "acme",
                "month": "2026-03",
                "key_hash": key,
                "billing_key": key,
                "reason": "dns_error",
                "run_id": "run-1",
                "recorded_at": now,
            }
            for key in keys
        ]

    def insert(keys):
        def work(conn):
            stmt = _insert(conn, credit_refunds).on_conflict_do_nothing(
                index_elements=["connection", "month", "key_hash"]
            )
            return insert_many(conn, stmt, rows(keys), count=True)

        return db.run(work)

    assert insert(["a", "b", "c"]) == 3
    assert insert(["b", "c", "d", "e", "a"]) == 2
    assert insert(["a"]) == 0
    assert insert(["f", "f", "g", "a"]) == 2  # a row repeated within one call counts once
    assert insert([f"k{i}" for i in range(1_234)]) == 1_234  # more than one page
    assert db.run(lambda conn: insert_many(conn, sa.insert(credit_refunds), [], count=True)) == 0
    db.dispose()


def test_insert_many_takes_sqlalchemys_path_for_parameters_the_rows_do_not_give(sqlite_url):
    db = Database(sqlite_url)
    stmt = sa.insert(credit_refunds).values(reason="fixed")
    row = {"connection": "acme", "month": "2026-03", "key_hash": "k", "billing_key": "k"}
    row |= {"run_id": "r", "recorded_at": datetime(2026, 3, 5, tzinfo=UTC)}
    assert db.run(lambda conn: _driver_statement(conn, stmt, tuple(row))) is None
    db.run(lambda conn: insert_many(conn, stmt, [row, dict(row, key_hash="l")]))
    stored = _stored(db, credit_refunds)
    assert [r[4] for r in stored] == ["fixed", "fixed"]
    db.dispose()


def test_upserts_on_postgres_go_a_page_at_a_time(pg_url, monkeypatch):
    """SQLAlchemy sends an INSERT ... ON CONFLICT once per row on PostgreSQL (a round trip each);
    insert_many sends them through psycopg2's execute_batch, and stores the same rows."""
    import psycopg2.extras

    pages: list[int] = []
    batch = psycopg2.extras.execute_batch

    def counting(cursor, sql, params, page_size=100):
        pages.append(len(params))
        return batch(cursor, sql, params, page_size=page_size)

    monkeypatch.setattr(psycopg2.extras, "execute_batch", counting)
    db = Database(pg_url)
    db.run(lambda conn: address_book.metadata.create_all(conn))
    now = datetime(2026, 3, 5, tzinfo=UTC)
    rows = [
        {
            "connection": "acme",
            "contact_id": i,
            "key_hash": f"{i:064x}",
            "updated_at": now,
            "recorded_at": now,
        }
        for i in range(1_200)
    ]
    db.run(lambda conn: insert_many(conn, address_book._upsert_statement(conn), rows))
    assert pages == [1_200]
    assert len(_stored(db, address_book.contact_addresses)) == 1_200
    db.dispose()


def test_counted_inserts_on_postgres_go_as_multi_row_values(pg_url, monkeypatch):
    """Charges and refunds (ON CONFLICT DO NOTHING, counted by RETURNING) go as one multi-row
    INSERT a page, not one statement per row; the count is the rows inserted."""
    import psycopg2.extras

    calls: list[int] = []
    values = psycopg2.extras.execute_values

    def counting(cursor, sql, params, **options):
        calls.append(len(params))
        return values(cursor, sql, params, **options)

    monkeypatch.setattr(psycopg2.extras, "execute_values", counting)
    db = Database(pg_url)
    now = datetime(2026, 3, 5, tzinfo=UTC)
    rows = [
        {
            "connection": "acme",
            "month": "2026-03",
            "key_hash": f"{i % 900:064x}",  # 100 repeats
            "billing_key": f"k{i % 900}",
            "reason": "dns_error",
            "run_id": "run-1",
            "recorded_at": now,
        }
        for i in range(1_000)
    ]

    def work(conn):
        stmt = _insert(conn, credit_refunds).on_conflict_do_nothing(
            index_elements=["connection", "month", "key_hash"]
        )
        return insert_many(conn, stmt, rows, count=True)

    assert db.run(work) == 900
    assert calls == [1_000]
    assert len(_stored(db, credit_refunds)) == 900
    db.dispose()
