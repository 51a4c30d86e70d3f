"""The run queue: every run of ours is tagged before it is queued, and only runs that call
ActiveCampaign take the account's slot."""

import dagster as dg
import pytest

from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.defs.run_queue import (
    HygieneRunCoordinator,
    hygiene_run_tags,
    partition_month,
    run_assets,
    tag_before_queue,
)
from ac_hygiene_tests.defs.conftest import definitions, shop

pytestmark = pytest.mark.usefixtures("env")
# The run queue of dagster.yaml (the daemon test exercises submission itself).
QUEUE = {
    "run_coordinator": {
        "module": "ac_hygiene.defs.run_queue",
        "class": "HygieneRunCoordinator",
        "config": {
            "max_concurrent_runs": 4,
            "tag_concurrency_limits": [
                {
                    "key": "ac_hygiene/activecampaign",
                    "value": {"applyLimitPerUniqueValue": True},
                    "limit": 1,
                }
            ],
        },
    }
}


def key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


def test_connection_from_the_selection_or_the_job() -> None:
    assert run_assets("__ASSET_JOB", [key("shop", "segment_contacts")]) == (
        "shop",
        {"segment_contacts"},
    )
    assert run_assets("shop__snapshot_job", None) == ("shop", {"account_snapshot"})
    assert run_assets("__ASSET_JOB", [key("a", "lists"), key("b", "lists")]) == (None, set())
    assert run_assets("other_job", None) == (None, set())


def test_month_from_any_partition_tag() -> None:
    assert partition_month({"dagster/partition/month": "2026-05"}) == "2026-05"
    assert partition_month({"dagster/partition": "2026-05|tag-3"}) == "2026-05"
    assert partition_month({"dagster/partition": "2026-05"}) == "2026-05"
    assert partition_month({"dagster/asset_partition_range_start": "2026-04"}) == "2026-04"
    assert partition_month({}) is None


def test_a_segment_calls_activecampaign_only_without_the_months_snapshot() -> None:
    month = current_month()
    selection = [key("shop", "segment_contacts"), key("shop", "verifications")]
    tags = {"dagster/partition": f"{month}|list-1"}
    with dg.instance_for_test() as instance:
        before = hygiene_run_tags(instance, "__ASSET_JOB", selection, tags)
        assert before == {
            "ac_hygiene/connection": "shop",
            "ac_hygiene/month": month,
            "ac_hygiene/activecampaign": "shop",
        }
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key("shop", "account_snapshot"), partition=month)
        )
        after = hygiene_run_tags(instance, "__ASSET_JOB", selection, tags)
        assert "ac_hygiene/activecampaign" not in after
        verify_only = hygiene_run_tags(instance, "__ASSET_JOB", [key("shop", "clean_plan")], tags)
        assert "ac_hygiene/activecampaign" not in verify_only
        tables = hygiene_run_tags(instance, "shop__account_job", None, {})
        assert tables == {"ac_hygiene/connection": "shop", "ac_hygiene/activecampaign": "shop"}


def test_a_manual_materialization_is_tagged_before_it_is_queued() -> None:
    """A UI materialization runs the implicit asset job, which has no job tags of ours."""
    defs = definitions(shop())
    month = current_month()
    with dg.instance_for_test(overrides=QUEUE) as instance:
        instance.add_dynamic_partitions("shop__segments", ["list-1"])
        job = defs.resolve_implicit_global_asset_job_def()
        selection = [key("shop", "segment_contacts")]
        run = instance.create_run_for_job(
            job,
            asset_selection=frozenset(selection),
            tags=job.get_tags_for_partition_key(
                month_segment_key(month, "list-1"), selected_asset_keys=selection
            ),
        )
        assert "ac_hygiene/connection" not in run.tags
        assert isinstance(instance.run_coordinator, HygieneRunCoordinator)
        stored = tag_before_queue(instance, run)
        assert stored.tags["ac_hygiene/connection"] == "shop"
        assert stored.tags["ac_hygiene/month"] == month
        assert stored.tags["ac_hygiene/activecampaign"] == "shop"  # no snapshot: reads the list
