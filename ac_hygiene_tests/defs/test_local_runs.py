"""Running a month without the daemon leaves what a daemon would: ticks and tagged runs."""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.scheduler.instigation import TickStatus

from ac_hygiene.defs.local_runs import (
    LOCATION_NAME,
    execute,
    sensor_name,
    sensor_origin,
    sensor_selector_id,
    tick,
)
from ac_hygiene.defs.partitions import current_month
from ac_hygiene_tests.defs.conftest import definitions, shop

pytestmark = pytest.mark.usefixtures("env")
ROOT = Path(__file__).resolve().parents[2]


def test_the_location_name_is_the_workspaces() -> None:
    """The UI finds a sensor's ticks by location name: it must be the one `dagster dev` loads."""
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    names = [entry["python_module"]["location_name"] for entry in workspace["load_from"]]
    assert names == [LOCATION_NAME]


def test_each_evaluation_is_stored_as_a_tick_and_runs_carry_the_sensors_tags(sandbox) -> None:
    defs = definitions(shop())
    month = current_month()
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, "shop")
        account = next(r for r in first.requests if r.job_name == "shop__account_job")
        assert account.tags["dagster/sensor_name"] == sensor_name("shop")
        assert account.tags["dagster/run_key"] == f"shop:{month}:account"
        assert account.tags["ac_hygiene/month"] == month
        result = execute(defs, instance, account, run_id=first.run_id(account))
        assert result.success and result.run_id == first.run_id(account)

        snapshot = next(r for r in first.requests if r.job_name == "shop__snapshot_job")
        assert execute(defs, instance, snapshot, run_id=first.run_id(snapshot)).success

        # With the month's snapshot, the next tick registers the segments and plans them.
        second = tick(defs, instance, "shop", first.cursor)
        assert [r.job_name for r in second.requests] == ["shop__segment_job"]
        third = tick(defs, instance, "shop", second.cursor)
        ticks = instance.get_ticks(sensor_origin("shop").get_id(), sensor_selector_id("shop"))
        # Nothing new to request: a skipped tick.
        assert third.requests == []
        statuses = [TickStatus.SKIPPED, TickStatus.SUCCESS, TickStatus.SUCCESS]
        assert [t.status for t in ticks] == statuses
        stored_first, stored_second = ticks[-1], ticks[-2]
        assert stored_first.run_keys == [str(r.run_key) for r in first.requests]
        assert sorted(stored_first.run_ids) == sorted(first.run_ids.values())
        assert stored_first.cursor == first.cursor
        added = stored_second.tick_data.dynamic_partitions_request_results[0].added_partitions
        assert added == second.registered and "all" in added
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.tags["dagster/run_key"] == f"shop:{month}:account"
