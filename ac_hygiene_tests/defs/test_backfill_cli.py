"""`ac-hygiene backfill`: one segment of the current month, run from the command line."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene.defs.partitions import current_month
from ac_hygiene_tests.defs.conftest import KEY_ENV, URL_ENV, Sandbox

pytestmark = pytest.mark.usefixtures("env")


def test_backfill_runs_one_registered_segment(
    sandbox: Sandbox, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections = tmp_path / "connections.yaml"
    connections.write_text(
        f"connections:\n  - {{name: shop, api_url_env: {URL_ENV}, api_key_env: {KEY_ENV},"
        " max_change_share: 0.5}\n"  # the generated account is ~22% dirty by design
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("AC_HYGIENE_CONNECTIONS", str(connections))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    list_id = min(sandbox.account.lists)
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("shop__segments", [f"list-{list_id}"])

    month = current_month()
    result = CliRunner().invoke(cli, ["backfill", "--partition", f"{month}|LIST-{list_id}"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "nothing was applied" in result.output
    plan = pl.read_parquet(
        env / "tables" / "shop" / "clean_plan" / month / f"list-{list_id}.parquet"
    )
    members = {row.contact for row in sandbox.account.contact_lists.values() if row.list == list_id}
    assert plan.height > 0
    assert set(plan["contact_id"].to_list()) <= members  # that list's contacts, no others
