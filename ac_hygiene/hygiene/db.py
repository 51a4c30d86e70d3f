"""The one SQL database behind the credits ledger and the verification cache.

A SQLite file by default (nothing to run), a PostgreSQL URL to scale out; the same SQLAlchemy Core
code runs on both. What differs is handled here, once:

- `postgresql://` and `postgres://` URLs are pinned to the psycopg2 driver that dagster-postgres
  installs (SQLAlchemy 2.1 would otherwise pick psycopg 3, which is not installed).
- SQLite gets WAL (readers never block the writer), a busy timeout, and `BEGIN IMMEDIATE` for
  write transactions: a deferred transaction that later tries to write can fail at once with
  "database is locked" instead of waiting, which is exactly the concurrent-runs case.
- Transient conflicts (PostgreSQL deadlock / serialization failure, SQLite busy) are retried.
- Error messages show the URL with its password masked and never chain the driver's exception,
  whose text or arguments might carry the password into a log.
- Bulk inserts (`insert_many`): on SQLite the statement is compiled once and the driver runs it
  for every row, SQLAlchemy's per-row parameter assembly being several times the cost of the
  inserts themselves. On PostgreSQL, SQLAlchemy batches plain INSERTs ("insertmanyvalues") but
  sends an INSERT ... ON CONFLICT once per row (a round trip each: 10,000 address-book rows took
  2.5 s); those go through psycopg2's `execute_batch`, the same statements a page at a time, and
  counted inserts (ON CONFLICT DO NOTHING RETURNING) through `execute_values`, one multi-row
  INSERT a page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from ac_hygiene.hygiene import credit_tables as _credit_tables  # noqa: F401 (registers tables)
from ac_hygiene.hygiene.tables import SCHEMA_VERSION, metadata, schema_version

DEFAULT_LEDGER_PATH = Path("data") / "ledger.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_SCHEMA_LOCK = 7_346_112_901  # arbitrary advisory-lock id: one schema creation at a time
_RETRIES = 8

T = TypeVar("T")


class LedgerDatabaseError(RuntimeError):
    """The ledger/cache database URL is wrong, unreachable, or holds an incompatible schema."""


def default_ledger_url(data_dir: Path | str = Path("data")) -> str:
    """The default database: a SQLite file `ledger.sqlite` under the data directory."""
    return f"sqlite:///{Path(data_dir) / DEFAULT_LEDGER_PATH.name}"


def mask_url(url: str | URL) -> str:
    """The URL as safe to show: password replaced by `***` (or a placeholder if unparsable)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:
        return "<unparsable database URL>"
    return parsed.render_as_string(hide_password=True)


def _scrub(text: str, url: URL) -> str:
    """Remove the password from a driver message, in case a driver ever echoes it."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return " ".join(text.split())


def parse_url(url: str) -> URL:
    """Parse and normalize a ledger URL, refusing anything that is neither SQLite nor Postgres."""
    if not isinstance(url, str) or not url.strip():
        raise LedgerDatabaseError(
            "the ledger database URL is empty: use e.g. 'sqlite:///data/ledger.sqlite' or "
            "'postgresql://user:password@host:5432/dbname'"
        )
    try:
        parsed = make_url(url.strip())
    except Exception:
        raise LedgerDatabaseError(
            f"cannot parse the ledger database URL {mask_url(url)}: use e.g. "
            "'sqlite:///data/ledger.sqlite' or 'postgresql://user:password@host:5432/dbname'"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise LedgerDatabaseError(
                "an in-memory SQLite ledger would forget every charge when the process ends and "
                "is not shared between runs: use a file, e.g. 'sqlite:///data/ledger.sqlite'"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise LedgerDatabaseError(
        f"unsupported ledger database {mask_url(parsed)}: the ledger runs on SQLite "
        "('sqlite:///path/to/ledger.sqlite') or PostgreSQL ('postgresql://user:pw@host/db')"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own implicit
        # transactions are always deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        readonly = connection.get_execution_options().get("ledger_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _is_transient(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "pgcode", None)
    if code in ("40P01", "40001"):  # deadlock detected, serialization failure
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


class Database:
    """An engine on the ledger URL with the schema in place, plus a retrying transaction helper."""

    def __init__(self, url: str) -> None:
        self.url = parse_url(url)
        self.masked_url = mask_url(self.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            Path(self.url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(self.url)
            _configure_sqlite(self.engine)
        else:
            self.engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": 10, "application_name": "ac_hygiene"},
            )
        self.run(self._ensure_schema)

    def __repr__(self) -> str:
        return f"Database({self.masked_url!r})"

    def _ensure_schema(self, conn: Connection) -> None:
        """Create the tables on first use, once even when several runs start together."""
        if not self.is_sqlite:
            # DDL is transactional on PostgreSQL; the advisory lock serializes first-time creation.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_SCHEMA_LOCK)))
        metadata.create_all(conn, checkfirst=True)
        found = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        if found is None:
            conn.execute(
                schema_version.insert().values(version=SCHEMA_VERSION, applied_at=utc_now())
            )
        elif found > SCHEMA_VERSION:
            raise LedgerDatabaseError(
                f"the ledger database {self.masked_url} has schema version {found}, newer than "
                f"this code's {SCHEMA_VERSION}: upgrade ac_hygiene"
            )

    def run(self, work: Callable[[Connection], T], *, readonly: bool = False) -> T:
        """Run `work` in one transaction, retrying it whole on transient lock conflicts."""
        delay = 0.05
        for attempt in range(_RETRIES):
            try:
                with self.engine.connect() as conn:
                    if readonly:
                        conn.execution_options(ledger_readonly=True)
                    with conn.begin():
                        return work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 < _RETRIES and _is_transient(exc):
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                detail = _scrub(str(exc.orig), self.url)
                if isinstance(exc, sa.exc.OperationalError):
                    raise LedgerDatabaseError(
                        f"cannot use the ledger database {self.masked_url}: {detail}. Check the "
                        "URL, that the server is running and reachable, and the credentials"
                    ) from None
                raise LedgerDatabaseError(
                    f"ledger database error on {self.masked_url}: {detail}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def dispose(self) -> None:
        self.engine.dispose()


def insert_many(
    conn: Connection, stmt: sa.Insert, rows: Sequence[Mapping[str, Any]], *, count: bool = False
) -> int | None:
    """Execute `stmt` (an INSERT, ON CONFLICT clauses allowed) once per row of `rows`, all rows
    with the same keys; with `count`, return how many rows were inserted (ON CONFLICT DO NOTHING
    skips are not counted). The rows stored are those `conn.execute(stmt, rows)` would store.

    SQLite: the statement is compiled once and the driver's `executemany` runs it, with each
    value converted by the bind processor SQLAlchemy itself would apply (its type's, for this
    dialect); `count` is the driver's row count (changes, summed over the rows). PostgreSQL
    (psycopg2): the same compiled statement a page of rows per round trip, `execute_batch`
    without `count`, multi-row VALUES counted by RETURNING with it (see `_pg_insert_values`).
    Falls back to SQLAlchemy's path for a statement with parameters the rows do not give (a
    column default, a bound value in a WHERE).
    """
    if not rows:
        return 0 if count else None
    if conn.dialect.name == "sqlite":
        prepared = _driver_statement(conn, stmt, tuple(rows[0]))
        if prepared is not None:
            sql, processors = prepared
            columns = [
                _bound_column([row[name] for row in rows], process)
                for name, process in processors.items()
            ]
            result = conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
            return result.rowcount if count else None
    if not count and conn.dialect.driver == "psycopg2":
        prepared = _driver_statement(conn, stmt, tuple(rows[0]))
        if prepared is not None:
            from psycopg2.extras import execute_batch

            sql, processors = prepared
            cursor = conn.connection.cursor()
            try:
                execute_batch(cursor, sql, _named_params(rows, processors), page_size=_PG_PAGE)
            finally:
                cursor.close()
            return None
    key = next(iter(stmt.table.primary_key.columns))  # type: ignore[attr-defined]
    if count and conn.dialect.driver == "psycopg2":
        inserted = _pg_insert_values(conn, stmt.returning(key), rows)
        if inserted is not None:
            return inserted
    if not count:
        conn.execute(stmt, rows)
        return None
    return len(conn.execute(stmt.returning(key), rows).all())


#: `VALUES (%(a)s, %(b)s, ...)` of a compiled single-row INSERT: nothing but placeholders.
_VALUES = re.compile(r" VALUES (\((?:%\(\w+\)s(?:, )?)+\))")


def _pg_insert_values(
    conn: Connection, stmt: sa.Insert, rows: Sequence[Mapping[str, Any]]
) -> int | None:
    """Rows returned by `stmt` (an INSERT ... RETURNING) over `rows`, sent as multi-row VALUES a
    page at a time by psycopg2's `execute_values`; None if the statement does not have that shape.

    SQLAlchemy runs an INSERT ... ON CONFLICT ... RETURNING once per row on PostgreSQL. In one
    multi-row INSERT ... ON CONFLICT DO NOTHING, a row that repeats an earlier one is skipped
    as a conflict, as it is row by row; DO UPDATE would refuse it, so only DO NOTHING comes here.
    """
    prepared = _driver_statement(conn, stmt, tuple(rows[0]))
    if prepared is None:
        return None
    sql, processors = prepared
    found = _VALUES.search(sql)
    if found is None or "DO UPDATE" in sql:
        return None
    from psycopg2.extras import execute_values

    cursor = conn.connection.cursor()
    try:
        returned = execute_values(
            cursor,
            sql[: found.start(1)] + "%s" + sql[found.end(1) :],
            _named_params(rows, processors),
            template=found.group(1),
            page_size=_PG_PAGE,
            fetch=True,
        )
    finally:
        cursor.close()
    return len(returned)


def _named_params(
    rows: Sequence[Mapping[str, Any]], processors: Mapping[str, Callable[[Any], Any] | None]
) -> list[dict[str, Any]]:
    """Each row's parameters by name, converted by the bind processors."""
    columns = {
        name: _bound_column([row[name] for row in rows], process)
        for name, process in processors.items()
    }
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


#: Rows per round trip on PostgreSQL (`execute_batch`, `execute_values`).
_PG_PAGE = 500


def _bound_column(values: list[Any], process: Callable[[Any], Any] | None) -> list[Any]:
    """A column of parameters as its type's bind processor makes them; a value shared by every
    row (a run id, a timestamp of the chunk) is processed once."""
    if process is None:
        return values
    first = values[0]
    if all(value is first for value in values):
        return [process(first)] * len(values)
    return [process(value) for value in values]


def _driver_statement(
    conn: Connection, stmt: sa.Insert, keys: tuple[str, ...]
) -> tuple[str, dict[str, Callable[[Any], Any] | None]] | None:
    """The SQL text of `stmt` for rows with `keys`, in the driver's parameter style (positional
    for sqlite3, named `%(key)s` for psycopg2), and the bind processor of each parameter, in the
    order a positional statement takes them; None if a parameter is not one of `keys` or is
    used twice."""
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
    if not names or not set(names) <= set(keys) or len(names) != len(compiled.binds):
        return None
    processors = {
        name: compiled.binds[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for name in names
    }
    return str(compiled), processors


def utc_now() -> datetime:
    return datetime.now(UTC)
