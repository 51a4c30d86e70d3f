"""The pipeline on a real PostgreSQL instance storage, configured by dagster.postgres.yaml alone."""

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from ac_hygiene.defs.local_runs import run_month
from ac_hygiene.defs.partitions import current_month
from ac_hygiene_tests.defs.conftest import definitions, shop

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("env")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh database of the throwaway server, for this module only."""
    name = f"ac_hygiene_defs_{secrets.token_hex(4)}"
    admin = sa.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_month_on_postgres(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    url = sa.make_url(database_url)
    for name, value in {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }.items():
        monkeypatch.setenv(name, value or "")
    defs = definitions(shop(), ledger_url=database_url)
    month = current_month()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "HygieneRunCoordinator"
        month_runs = run_month(defs, instance, "shop")
        assert instance.get_dynamic_partitions("shop__segments")[0] == "all"
        assert list(month_runs.results) == ["snapshot", "account", "all", "report"]
        assert all(r.success for r in month_runs.results.values())
        assert len(instance.get_runs()) == 4
        plan = dg.AssetKey(["shop", "clean_plan"])
        assert {str(k) for k in instance.get_materialized_partitions(plan)} == {f"{month}|all"}
        report = instance.get_latest_materialization_event(dg.AssetKey(["shop", "hygiene_report"]))
        credits = report.asset_materialization.metadata["credits_used"].value
        assert credits > 0

    # The ledger shares the PostgreSQL database: the month's credits are there.
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"runs", "event_logs", "credit_charges"} <= tables
