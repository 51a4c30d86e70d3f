"""Opening the ledger database: URLs, clear errors without passwords, schema version, SQLite."""

from __future__ import annotations

import socket
import sqlite3
import traceback

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ac_hygiene.hygiene import (
    CreditLedger,
    LedgerDatabaseError,
    SqlResultCache,
    default_ledger_url,
    mask_url,
)
from ac_hygiene.hygiene.tables import SCHEMA_VERSION

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
