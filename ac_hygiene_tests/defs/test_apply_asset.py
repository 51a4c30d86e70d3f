"""The apply step in Dagster: guardrails that stop, a recorded override, auto-apply only when set.

Each test reads the sandbox account afterwards: what the plan said is what the account shows.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.defs.local_runs import execute, run_month, tick
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.hygiene.guardrails import OVERRIDE_TAG
from ac_hygiene_tests.defs.conftest import Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")


def _writes(sandbox: Sandbox) -> int:
    requests = sandbox.app.state.sandbox.stats.requests
    return sum(n for endpoint, n in requests.items() if not endpoint.startswith("GET"))


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def test_refused_plan_is_not_applied_until_overridden(sandbox: Sandbox, env) -> None:
    defs = definitions(shop(max_change_share=0.1))
    month = current_month()
    key = month_segment_key(month, "all")
    (env / "home").mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(env / "home")) as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        segment = execute(
            defs, instance, dg.RunRequest(job_name="shop__segment_job", partition_key=key)
        )
        failed = {e.check_name for e in segment.get_asset_check_evaluations() if not e.passed}
        assert failed == {"change_share_within_limit"}  # blocking: the segment run says so
        assert not segment.success
        plan = pl.read_parquet(env / "tables" / "shop" / "clean_plan" / month / "all.parquet")

        writes = _writes(sandbox)
        refused = execute(
            defs, instance, dg.RunRequest(job_name="shop__apply_job", partition_key=key)
        )
        assert not refused.success
        (failure,) = [e for e in refused.all_events if e.is_step_failure]
        message = failure.step_failure_data.user_failure_data.description
        assert "NOT applied" in message and "change_share_exceeded" in message
        assert "--override-guardrails" in message
        assert _writes(sandbox) == writes  # nothing sent

        applied = execute(
            defs,
            instance,
            dg.RunRequest(
                job_name="shop__apply_job",
                partition_key=key,
                tags={OVERRIDE_TAG: "first cleaning of an old list, reviewed"},
            ),
        )
        assert applied.success
        (schema,) = applied.get_asset_check_evaluations()
        assert schema.check_name == "matches_schema" and schema.passed
        meta = _metadata(applied, "shop__applied_actions")
    assert meta["guardrail_override"] == "first cleaning of an old list, reviewed"
    account = sandbox.account
    deletes = plan.filter(pl.col("action") == "delete")["contact_id"].to_list()
    unsubscribes = plan.filter(pl.col("action") == "unsubscribe")
    assert deletes and unsubscribes.height
    assert all(cid not in account.contacts for cid in deletes)
    for cid, lists in unsubscribes.select("contact_id", "list_ids").iter_rows():
        assert all(account.membership(cid, lid).status == 2 for lid in lists)
    assert meta["delete_done"] == len(deletes)
    assert meta["unsubscribe_done"] + meta["unsubscribe_skipped"] == unsubscribes.height
    keeps = plan.filter(pl.col("category").is_in(["unknown", "catch_all", "risky"]))
    assert all(cid in account.contacts for cid in keeps["contact_id"])


def test_sensor_requests_apply_only_with_auto_apply(sandbox: Sandbox, env) -> None:
    month = current_month()
    (env / "home2").mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(env / "home2")) as instance:
        off = definitions(shop())
        month_runs = run_month(off, instance, "shop")  # snapshot, then the segment `all`
        assert month_runs.segments == ["all"]
        assert not [name for name in month_runs.results if name.startswith("apply")]
        again = tick(off, instance, "shop")
        assert not again.of_job("shop__apply_job")

        on = definitions(shop(auto_apply=True))
        auto = tick(on, instance, "shop")
        (request,) = auto.of_job("shop__apply_job")
        assert str(request.partition_key) == f"{month}|all"
        assert request.run_key == f"shop:{month}:apply:all"
