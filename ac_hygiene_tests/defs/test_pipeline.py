"""The month end to end on real sandbox servers: ephemeral and persistent instances, a backfill."""

import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.defs import local_runs
from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.schemas import CleanPlan, Contacts, Verifications
from ac_hygiene_tests.defs.conftest import KEY_ENV, URL_ENV, Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")
ROOT = Path(__file__).resolve().parents[2]


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(f"shop__{asset}")
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def run_month(
    defs: dg.Definitions, instance: dg.DagsterInstance
) -> dict[str, dg.ExecuteInProcessResult]:
    """What the daemon would do with the sensor's ticks (and the report's automation)."""
    month = current_month()
    runs = local_runs.run_month(defs, instance, "shop")
    return {
        (f"{month}|{name}" if name in runs.segments else name): result
        for name, result in runs.results.items()
    }


def test_month_on_an_ephemeral_instance(sandbox: Sandbox, env: Path) -> None:
    """In memory (no daemon, no sensor: the segment is registered by hand)."""
    defs = definitions(shop())
    month = current_month()
    key = f"{month}|all"
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        results = {
            name: execute(defs, instance, dg.RunRequest(job_name=job, partition_key=partition))
            for name, job, partition in [
                ("shop__account_job", "shop__account_job", None),
                (key, "shop__segment_job", month_segment_key(month, "all")),
                ("report", "shop__report_job", month),
            ]
        }
    assert set(results) == {"shop__account_job", key, "report"}
    assert all(r.success for r in results.values())
    segment = results[key]
    assert all(e.passed for e in segment.get_asset_check_evaluations())
    assert len(segment.get_asset_check_evaluations()) == 7

    tables = env / "tables" / "shop"
    contacts = Contacts.validate(
        pl.read_parquet(tables / "segment_contacts" / month / "all.parquet")
    )
    checked = Verifications.validate(
        pl.read_parquet(tables / "verifications" / month / "all.parquet")
    )
    plan = CleanPlan.validate(pl.read_parquet(tables / "clean_plan" / month / "all.parquet"))
    assert sorted(contacts["contact_id"]) == sorted(sandbox.account.contacts)
    assert plan.height == contacts.height

    verified = metadata(segment, "verifications")
    statuses = {
        s: verified[f"status_{s}"] for s in ("deliverable", "undeliverable", "risky", "unknown")
    }
    assert sum(statuses.values()) == checked.height
    assert statuses["deliverable"] > 0 and statuses["undeliverable"] > 0
    assert verified["credits_charged"] > 0
    planned = metadata(segment, "clean_plan")
    assert (
        planned["action_keep"] + planned["action_unsubscribe"] + planned["action_delete"]
        == plan.height
    )
    assert planned["action_unsubscribe"] > 0
    assert planned["plan_looks_sane"] is True
    assert "dagster/column_schema" in planned and "| contact_id |" in planned["changes_preview"]

    report = metadata(results["report"], "hygiene_report")
    assert report["segments"] == 1
    assert report["distinct_contacts"] == contacts.height
    assert report["credits_used"] == verified["credits_charged"]


def test_rerun_on_a_persistent_instance_charges_nothing_twice(sandbox: Sandbox) -> None:
    defs = definitions(shop())
    stats = sandbox.app.state.sandbox.stats
    with dg.instance_for_test() as instance:
        first = run_month(defs, instance)
        assert all(r.success for r in first.values())
        tags_reads = stats.requests.get("GET /api/3/tags", 0)
        rerun = execute(
            defs,
            instance,
            dg.RunRequest(
                job_name="shop__segment_job",
                partition_key=month_segment_key(current_month(), "all"),
            ),
        )
        assert rerun.success
        # the tags asset covers every tag on the contacts: the extraction does not re-read it
        assert stats.requests.get("GET /api/3/tags", 0) == tags_reads
        before = metadata(first[f"{current_month()}|all"], "verifications")
        after = metadata(rerun, "verifications")
        assert after["credits_charged"] == 0
        assert after["credits_already_charged"] == before["credits_charged"]
        assert after["from_cache"] > 0
        materialized = instance.get_materialized_partitions(dg.AssetKey(["shop", "clean_plan"]))
        assert {str(k) for k in materialized} == {f"{current_month()}|all"}


def test_single_list_backfill_from_the_cli(sandbox: Sandbox, env: Path, tmp_path: Path) -> None:
    """The README's two commands, in subprocesses: register the segments, materialize one list."""
    list_id = min(sandbox.account.lists)
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "connections.yaml").write_text(
        f"connections: [{{name: shop, api_url_env: {URL_ENV}, api_key_env: {KEY_ENV}, "
        "max_change_share: 0.5}]"  # the generated account is ~20% dirty by design
    )
    month = current_month()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        registered = subprocess.run(
            [str(Path(sys.executable).with_name("ac-hygiene")), "register-segments"],
            cwd=tmp_path,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert registered.returncode == 0, registered.stderr[-3000:]
        assert not instance.get_runs()
        before = sandbox.requests
        completed = subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                *("asset", "materialize", "-m", "ac_hygiene.definitions"),
                *("--select", "shop/segment_contacts,shop/verifications,shop/clean_plan"),
                *("--partition", f"{month}|list-{list_id}"),
            ],
            cwd=tmp_path,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        requests = sandbox.requests - before
        materialized = instance.get_materialized_partitions(dg.AssetKey(["shop", "clean_plan"]))
        assert {str(k) for k in materialized} == {f"{month}|list-{list_id}"}

    on_list = {
        c for c in sandbox.account.contacts if sandbox.account.membership(c, list_id) is not None
    }
    contacts = pl.read_parquet(
        env / "tables" / "shop" / "segment_contacts" / month / f"list-{list_id}.parquet"
    )
    assert set(contacts["contact_id"]) == on_list
    # No snapshot this month: the list alone is read (`listid`), plus the tags table (never
    # materialized here) to drop deleted tags; not the account's pages.
    assert requests <= math.ceil(len(on_list) / 100) + 1 + 1
    assert requests < math.ceil(len(sandbox.account.contacts) / 100) + 1
    plan = pl.read_parquet(
        env / "tables" / "shop" / "clean_plan" / month / f"list-{list_id}.parquet"
    )
    touched = {i for ids in plan["list_ids"] for i in ids}
    assert touched <= {list_id}  # backfilling one list never unsubscribes from another
    assert json.dumps(sorted(touched)) in ("[]", f"[{list_id}]")


@pytest.mark.parametrize("segment_by", ["tag", "list"])
def test_a_segmented_month_verifies_every_contact_exactly_once(
    sandbox: Sandbox, env: Path, segment_by: str
) -> None:
    """Over the threshold: one run per tag (list) plus the remainder, all cut from one read."""
    defs = definitions(shop(threshold=100, segment_by=segment_by))  # 240 contacts
    month = current_month()
    before = sandbox.requests
    with dg.instance_for_test() as instance:
        runs = local_runs.run_month(defs, instance, "shop")
        assert all(r.success for r in runs.results.values()), [
            n for n, r in runs.results.items() if not r.success
        ]
        report = metadata(runs.results["report"], "hygiene_report")
    requests = sandbox.requests - before
    remainder = "untagged" if segment_by == "tag" else "unlisted"
    assert remainder in runs.segments and len(runs.segments) > 2

    tables = env / "tables" / "shop"
    contacts = {
        s: pl.read_parquet(tables / "segment_contacts" / month / f"{s}.parquet")
        for s in runs.segments
    }
    covered = pl.concat([f.select("contact_id") for f in contacts.values()])
    assert set(covered["contact_id"]) == set(sandbox.account.contacts)  # coverage 1.0
    assert contacts[remainder].height > 0  # those contacts would have been missed without it
    assert report["distinct_contacts"] == len(sandbox.account.contacts)

    checked = pl.concat(
        [
            pl.read_parquet(tables / "verifications" / month / f"{s}.parquet").with_columns(
                segment=pl.lit(s)
            )
            for s in runs.segments
        ]
    )
    emails = {
        c.email.strip() for c in sandbox.account.contacts.values() if c.email and c.email.strip()
    }
    assert set(checked["email"]) == emails  # every address is checked...
    # ...and verified once, not once per segment: a later segment reuses the verdict. Only an
    # `unknown` (no verdict: greylisted, timed out; never cached, refunded) is tried again.
    # (Two contacts of one segment may spell one address differently: one verification.)
    # Most verdicts come from the snapshot's cache warm-up (verified while the account was read).
    fresh = checked.filter(~pl.col("from_cache"))
    verdicts = fresh.filter(pl.col("status") != "unknown").unique(["email_normalized", "segment"])
    assert verdicts["email_normalized"].is_unique().all()
    warmed = metadata(runs.results["snapshot"], "account_snapshot")
    assert warmed["warmup_state"] == "warmed"
    assert (
        warmed["warmup_verified_now"] + fresh["email_normalized"].n_unique()
        >= checked["email_normalized"].n_unique()
    )
    # ...and charged once: the month's credits are at most one per distinct address.
    assert report["credits_used"] <= checked["email_normalized"].n_unique()
    # One read of the account (3 pages of 100) and its three small tables; no per-segment read.
    # (The snapshot runs before the account tables, so it reads the tags table itself once.)
    assert requests == math.ceil(len(sandbox.account.contacts) / 100) + 4


def test_a_past_month_is_refused(sandbox: Sandbox) -> None:
    now = datetime.now(UTC)
    past = current_month(now.replace(day=1) - timedelta(days=40))  # over, grace period included
    defs = definitions(shop(start_month="2020-01"))
    before = sandbox.requests
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        for request in (
            dg.RunRequest(
                job_name="shop__segment_job", partition_key=month_segment_key(past, "all")
            ),
            dg.RunRequest(job_name="shop__snapshot_job", partition_key=past),
        ):
            result = execute(defs, instance, request)
            assert not result.success
            (failure,) = [e for e in result.all_events if e.is_step_failure]
            message = failure.step_failure_data.error.message
            assert f"month {past} is over" in message and current_month(now) in message
            assert "Traceback" not in (
                failure.step_failure_data.user_failure_data.description or ""
            )
    assert sandbox.requests == before  # nothing read, nothing charged
