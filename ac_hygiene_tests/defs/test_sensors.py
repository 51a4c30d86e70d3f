"""The monthly planner against a real sandbox account: the snapshot first, then the segments."""

import json

import dagster as dg
import pytest

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.local_runs import execute
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


def segments_of(result) -> list[str]:
    return sorted(
        r.partition_key.keys_by_dimension["segment"]
        for r in result.run_requests
        if r.job_name == "shop__segment_job"
    )


def test_the_month_starts_with_the_account_and_its_snapshot(sandbox: Sandbox) -> None:
    defs = definitions(shop())
    month = current_month()
    before = sandbox.requests
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        by_job = {(r.job_name, r.partition_key): r for r in first.run_requests}
        assert set(by_job) == {("shop__account_job", None), ("shop__snapshot_job", month)}
        snapshot = by_job[("shop__snapshot_job", month)]
        assert snapshot.run_key == f"shop:{month}:snapshot"
        assert snapshot.tags["ac_hygiene/connection"] == "shop"
        assert snapshot.tags["ac_hygiene/month"] == month
        assert not first.dynamic_partitions_requests
        # Until the snapshot exists there is nothing more to request, and nothing is re-requested.
        second = tick(defs, instance, first.cursor)
        assert second.run_requests == []
    assert sandbox.requests == before  # planning costs no request to ActiveCampaign


def run_snapshot(defs: dg.Definitions, instance: dg.DagsterInstance, first) -> None:
    for request in first.run_requests:
        assert execute(defs, instance, request).success


def test_small_account_runs_all_once_the_snapshot_exists(sandbox: Sandbox) -> None:
    defs = definitions(shop())
    month = current_month()
    lists, tags = sorted(sandbox.account.lists), sorted(sandbox.account.tags)
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        run_snapshot(defs, instance, first)
        before = sandbox.requests
        second = tick(defs, instance, first.cursor)
        assert sandbox.requests == before
        registered = apply_partitions(instance, second)
        assert registered[:3] == ["all", "untagged", "unlisted"]
        assert set(registered[3:]) <= {f"list-{i}" for i in lists} | {f"tag-{i}" for i in tags}
        assert [(r.job_name, r.partition_key) for r in second.run_requests] == [
            ("shop__segment_job", month_segment_key(month, "all"))
        ]
        assert second.run_requests[0].run_key == f"shop:{month}:all"
        third = tick(defs, instance, second.cursor)
        assert third.run_requests == [] and not third.dynamic_partitions_requests
        assert json.loads(third.cursor) == json.loads(second.cursor)


@pytest.mark.parametrize("segment_by", ["tag", "list"])
def test_large_account_runs_each_tag_or_list_and_the_remainder(
    sandbox: Sandbox, segment_by: str
) -> None:
    settings = shop(threshold=100, segment_by=segment_by)  # the account has 240 contacts
    defs = definitions(settings)
    account = sandbox.account
    if segment_by == "tag":
        present = {t.tag for c in account.contacts for t in account.tags_of(c)}
    else:
        present = {
            m.list
            for c in account.contacts
            for m in account.memberships_of(c)
            if m.status in (1, 2)
        }
    with dg.instance_for_test() as instance:
        first = tick(defs, instance, None)
        run_snapshot(defs, instance, first)
        second = tick(defs, instance, first.cursor)
        remainder = "untagged" if segment_by == "tag" else "unlisted"
        assert segments_of(second) == sorted([*(f"{segment_by}-{i}" for i in present), remainder])
        assert len({r.run_key for r in second.run_requests}) == len(second.run_requests)
        assert set(segments_of(second)) <= set(apply_partitions(instance, second))


def test_a_new_month_plans_again() -> None:
    stale = MonthCursor(month="2020-01", segments=["all"], account=True, snapshot=True).dump()
    fresh = MonthCursor.load(stale, "2020-02")
    assert (fresh.segments, fresh.account, fresh.snapshot) == ([], False, False)
    assert MonthCursor.load(stale, "2020-01").segments == ["all"]


def test_threshold_boundary() -> None:
    settings = ConnectionSettings("x", "U", "K", threshold=1000, segment_by="tag")
    shape = AccountShape(contacts=999, list_ids=[1], tag_ids=[3, 2])
    assert planned_segments(shape, settings) == ["all"]
    at = AccountShape(contacts=1000, list_ids=[1], tag_ids=[3, 2])
    assert planned_segments(at, settings) == ["tag-2", "tag-3", "untagged"]
    by_list = ConnectionSettings("x", "U", "K", threshold=1000, segment_by="list")
    assert planned_segments(at, by_list) == ["list-1", "unlisted"]
    untagged = AccountShape(contacts=5000, list_ids=[1], tag_ids=[])
    assert planned_segments(untagged, settings) == ["all"]


def test_largest_segments_are_queued_first() -> None:
    """The queue starts runs in request order: the longest runs go first so that the month does
    not end on one long run; equal or unknown sizes keep the id order."""
    settings = ConnectionSettings("x", "U", "K", threshold=10, segment_by="tag")
    sizes = {"tag-1": 5, "tag-2": 9, "tag-3": 5, "untagged": 40}
    shape = AccountShape(contacts=50, list_ids=[], tag_ids=[1, 2, 3, 4], sizes=sizes)
    assert planned_segments(shape, settings) == ["untagged", "tag-2", "tag-1", "tag-3", "tag-4"]


def test_shape_from_snapshot_metadata() -> None:
    shape = AccountShape.from_snapshot({"contacts": 12, "tag_ids": [5, 2], "list_ids": None})
    assert shape == AccountShape(contacts=12, list_ids=[], tag_ids=[2, 5])
    sized = AccountShape.from_snapshot({"contacts": 3, "segment_sizes": {"tag-2": 3, "x": "?"}})
    assert sized.sizes == {"tag-2": 3}


@pytest.mark.parametrize("cursor", ["not json", "[]", "null", '{"segments": "all"}'])
def test_a_cursor_set_by_hand_does_not_break_every_tick(cursor: str) -> None:
    """A cursor edited in the UI into something else plans the month again, under the same run
    keys (so the daemon launches nothing twice), instead of failing every tick."""
    defs = definitions(shop())
    month = current_month()
    with dg.instance_for_test() as instance:
        result = tick(defs, instance, cursor)
        assert sorted(r.run_key for r in result.run_requests) == [
            f"shop:{month}:account",
            f"shop:{month}:snapshot",
        ]
        assert json.loads(result.cursor)["snapshot"] is True
