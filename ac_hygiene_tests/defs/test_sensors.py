"""The monthly planner against a real sandbox account: what it requests and registers."""

import json

import dagster as dg
import pytest

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.defs.sensors import AccountShape, MonthCursor, planned_segments
from ac_hygiene_tests.defs.conftest import Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")


def tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None, name: str = "shop"
):
    """One evaluation the way the daemon runs it (`evaluate_tick`, not direct invocation)."""
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), cursor=cursor, resources=defs.resources, definitions=defs
    ) as context:
        return defs.resolve_sensor_def(f"{name}__monthly_plan").evaluate_tick(context)


def apply_partitions(instance: dg.DagsterInstance, result) -> list[str]:
    """What the daemon does with the tick's dynamic partition requests."""
    added: list[str] = []
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        added += request.partition_keys
    return added


def account_ids(sandbox: Sandbox) -> tuple[list[int], list[int]]:
    return sorted(sandbox.account.lists), sorted(sandbox.account.tags)


def test_small_account_runs_all_once_a_month(sandbox: Sandbox) -> None:
    defs = definitions(shop())
    month = current_month()
    lists, tags = account_ids(sandbox)
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        registered = apply_partitions(instance, first)
        assert registered == ["all", *(f"list-{i}" for i in lists), *(f"tag-{i}" for i in tags)]
        by_job = {(r.job_name, r.partition_key): r for r in first.run_requests}
        assert set(by_job) == {
            ("shop__account_job", None),
            ("shop__segment_job", month_segment_key(month, "all")),
        }
        run = by_job[("shop__segment_job", month_segment_key(month, "all"))]
        assert run.run_key == f"shop:{month}:all"
        assert run.tags["ac_hygiene/connection"] == "shop"

        second = tick(defs, instance, first.cursor)
        assert second.run_requests == []
        assert not second.dynamic_partitions_requests
        assert json.loads(second.cursor) == json.loads(first.cursor)


@pytest.mark.parametrize("segment_by", ["tag", "list"])
def test_large_account_runs_one_partition_per_tag_or_list(
    sandbox: Sandbox, segment_by: str
) -> None:
    settings = shop(threshold=100, segment_by=segment_by)  # the account has 240 contacts
    defs = definitions(settings)
    lists, tags = account_ids(sandbox)
    ids = tags if segment_by == "tag" else lists
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        segments = sorted(
            r.partition_key.keys_by_dimension["segment"]
            for r in first.run_requests
            if r.job_name == "shop__segment_job"
        )
        assert segments == sorted(f"{segment_by}-{i}" for i in ids)
        assert len({r.run_key for r in first.run_requests}) == len(first.run_requests)
        # The partitions requested in this tick are registered by this same tick.
        assert set(segments) <= set(apply_partitions(instance, first))

        # A tag created between ticks is registered and planned; nothing else is requested again.
        new_tag = sandbox.account.add_tag("late-arrival", cdate=1_700_000_000)
        try:
            second = tick(defs, instance, first.cursor)
            added = apply_partitions(instance, second)
            assert added == [f"tag-{new_tag.id}"]
            expected = [f"tag-{new_tag.id}"] if segment_by == "tag" else []
            assert [
                r.partition_key.keys_by_dimension["segment"] for r in second.run_requests
            ] == expected
        finally:
            with sandbox.account.lock:
                sandbox.account.tags.pop(new_tag.id)
        third = tick(defs, instance, second.cursor)
        assert third.run_requests == [] and not third.dynamic_partitions_requests


def test_a_new_month_plans_again() -> None:
    stale = MonthCursor(month="2020-01", segments=["all"], account=True, report=True).dump()
    fresh = MonthCursor.load(stale, "2020-02")
    assert (fresh.segments, fresh.account, fresh.report) == ([], False, False)
    assert MonthCursor.load(stale, "2020-01").segments == ["all"]


def test_threshold_boundary() -> None:
    settings = ConnectionSettings("x", "U", "K", threshold=1000, segment_by="tag")
    shape = AccountShape(contacts=999, list_ids=[1], tag_ids=[3, 2])
    assert planned_segments(shape, settings) == ["all"]
    at = AccountShape(contacts=1000, list_ids=[1], tag_ids=[3, 2])
    assert planned_segments(at, settings) == ["tag-2", "tag-3"]
    untagged = AccountShape(contacts=5000, list_ids=[1], tag_ids=[])
    assert planned_segments(untagged, settings) == ["all"]


def test_missing_credentials_fail_the_tick_with_the_variable_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEST_AC_API_KEY")
    defs = definitions(shop())
    with dg.instance_for_test() as instance, pytest.raises(Exception, match="TEST_AC_API_KEY"):
        tick(defs, instance, None)


@pytest.mark.parametrize("cursor", ["not json", "[]", "null", '{"segments": "all"}'])
def test_a_cursor_set_by_hand_does_not_break_every_tick(sandbox: Sandbox, cursor: str) -> None:
    """A cursor edited in the UI into something else plans the month again, under the same run
    keys (so the daemon launches nothing twice), instead of failing every tick."""
    defs = definitions(shop())
    month = current_month()
    with dg.instance_for_test() as instance:
        result = tick(defs, instance, cursor)
        assert sorted(r.run_key for r in result.run_requests) == [
            f"shop:{month}:account",
            f"shop:{month}:all",
        ]
        assert json.loads(result.cursor)["segments"] == ["all"]
