"""Databases for the hygiene tests: a SQLite file per test, and a fresh PostgreSQL database per
test on the throwaway server of `./dev test` (so schema creation is exercised every time and no
test sees another's rows)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url


def _admin_engine(postgres_url: str) -> sa.Engine:
    url = make_url(postgres_url).set(drivername="postgresql+psycopg2")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"hygiene_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(postgres_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on both databases the ledger supports."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(fixture)
