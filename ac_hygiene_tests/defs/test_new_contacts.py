"""The new-contacts watch end to end: the real sensor's ticks (clock set by the test), the window
runs on a real Dagster instance, the sandbox API and mail world, the ledger and address book."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.new_contacts_assets import parse_window_key
from ac_hygiene.defs.new_contacts_sensor import WatchCursor, job_name, watch_tick
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.hygiene.db import default_ledger_url
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene_tests.defs.conftest import KEY_ENV, Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")

SETTINGS = shop()
JOB = job_name("shop")


def tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
    now: datetime,
    settings: ConnectionSettings = SETTINGS,
):
    """One evaluation of the sensor's body at `now`, its partition requests applied."""
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), cursor=cursor, resources=defs.resources, definitions=defs
    ) as context:
        result = watch_tick(context, settings, JOB, now=now)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
    return result


def run_window(defs, instance, result) -> tuple[dg.ExecuteInProcessResult, dict[str, dict]]:
    (request,) = result.run_requests
    run = execute(defs, instance, request)
    meta = {}
    for asset in ("new_contacts", "new_verifications", "new_clean_plan"):
        materializations = run.asset_materializations_for_node(f"shop__{asset}")
        if materializations:
            meta[asset] = {
                k: getattr(v, "value", v) for k, v in materializations[0].metadata.items()
            }
    return run, meta


def table(env, asset: str, key: str) -> pl.DataFrame:
    return pl.read_parquet(env / "tables" / "shop" / asset / f"{key}.parquet")


def run_monthly(defs, instance) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("shop__segments", ["all"])
    request = dg.RunRequest(
        job_name="shop__segment_job", partition_key=month_segment_key(current_month(), "all")
    )
    result = execute(defs, instance, request)
    assert result.success
    return result


def definite_contacts(env) -> list[int]:
    """Contacts whose address the monthly run verified with a verdict (so it charged it and
    recorded it in the address book; an unknown result is neither)."""
    month = current_month()
    contacts = table(env, "segment_contacts", f"{month}/all")
    results = table(env, "verifications", f"{month}/all")
    definite = results.filter(pl.col("status") != "unknown").get_column("email")
    unique = contacts.filter(~pl.col("email").str.to_lowercase().is_duplicated())
    return sorted(unique.filter(pl.col("email").is_in(definite.implode()))["contact_id"])


def at(moment: datetime) -> int:
    return int(moment.timestamp())


def test_windows_lose_nothing_verify_each_new_address_once_and_charge_once(
    sandbox: Sandbox, env
) -> None:
    account = sandbox.account
    defs = definitions(SETTINGS)
    with dg.instance_for_test() as instance:
        monthly = run_monthly(defs, instance)
        ids = definite_contacts(env)
        monthly_credits = CreditLedger(default_ledger_url(env)).credits_used(
            "shop", current_month()
        )
        assert monthly_credits > 0
        base = datetime.now(UTC).replace(microsecond=0)
        t1, t2, t3 = (base + timedelta(minutes=m) for m in (2, 4, 6))

        # --- before the first tick
        existing = account.contacts[ids[0]].email  # verified (and charged) by the monthly run
        fresh = account.add_contact("fresh.alice@gmail.com", cdate=at(t1) - 50).id
        invalid = account.add_contact("nobody-777@gmail.com", cdate=at(t1) - 40).id
        twin = account.add_contact(existing.upper(), cdate=at(t1) - 30).id  # same billing key
        moved = ids[1]
        account.update_contact(moved, now=at(t1) - 20, email="moved.bob@gmail.com")
        renamed = ids[2]
        account.update_contact(renamed, now=at(t1) - 10, first_name="Renamed")

        first = tick(defs, instance, None, t1)
        run1, m1 = run_window(defs, instance, first)
        assert run1.success and all(e.passed for e in run1.get_asset_check_evaluations())
        key1 = first.run_requests[0].partition_key
        window1 = parse_window_key(key1)
        assert window1.until == t1 and window1.since < base  # anchored at the monthly read
        seen1 = table(env, "new_contacts", key1)
        by_id = dict(zip(seen1["contact_id"], seen1["change"], strict=True))
        assert by_id[fresh] == by_id[invalid] == by_id[twin] == "new"
        assert by_id[moved] == "email_changed" and by_id[renamed] == "same_address"
        assert m1["new_contacts"]["contacts_seen"] == seen1.height == 5
        assert m1["new_contacts"]["new_addresses"] == 4
        # the mail world's answers: gmail has fresh.alice and moved.bob, not nobody-777
        verdicts = dict(table(env, "new_verifications", key1).select("email", "status").iter_rows())
        assert verdicts["fresh.alice@gmail.com"] == verdicts["moved.bob@gmail.com"] == "deliverable"
        assert verdicts["nobody-777@gmail.com"] == "undeliverable"
        plan1 = table(env, "new_clean_plan", key1)
        assert sorted(plan1["contact_id"]) == sorted([fresh, invalid, twin, moved])
        assert dict(plan1.select("contact_id", "action").iter_rows())[invalid] == "unsubscribe"
        # charged: the three addresses new this month; the twin's was charged by the monthly run
        assert m1["new_verifications"]["credits_charged"] == 3
        assert m1["new_verifications"]["credits_already_charged"] == 1
        assert m1["new_clean_plan"]["action_unsubscribe"] == 1

        # --- after the first window's read: a write in its very last second, and one stamped
        # before its end by a clock behind ours; the overlap must catch both
        same_second = account.add_contact("late.carol@gmail.com", cdate=at(t1)).id
        skewed = ids[3]
        account.update_contact(skewed, now=at(t1) - 5, email="skewed.dan@gmail.com")

        second = tick(defs, instance, first.cursor, t2)
        run2, m2 = run_window(defs, instance, second)
        assert run2.success
        key2 = second.run_requests[0].partition_key
        window2 = parse_window_key(key2)
        assert window2.since == t1 - timedelta(minutes=15) and window2.until == t2
        seen2 = table(env, "new_contacts", key2)
        verified2 = seen2.filter(pl.col("verify"))
        assert sorted(verified2["contact_id"]) == sorted([same_second, skewed])
        # the first window's contacts, read again in the overlap, are not verified again
        again = seen2.filter(pl.col("contact_id").is_in([fresh, invalid, twin, moved, renamed]))
        assert again.height == 5 and set(again["change"]) == {"same_address"}
        assert m2["new_verifications"]["credits_charged"] == 2

        # --- a tick with nothing new: a run that verifies and charges nothing
        third = tick(defs, instance, second.cursor, t3)
        run3, m3 = run_window(defs, instance, third)
        assert run3.success and m3["new_contacts"]["new_addresses"] == 0
        assert m3["new_verifications"]["credits_charged"] == 0

        # the month's ledger: the monthly run's credits + the 5 new addresses, nothing twice
        ledger = CreditLedger(default_ledger_url(env))
        assert ledger.credits_used("shop", current_month()) == monthly_credits + 5

        # and the other way round: the monthly run again sees the window's addresses charged
        rerun = execute(
            defs,
            instance,
            dg.RunRequest(
                job_name="shop__segment_job",
                partition_key=month_segment_key(current_month(), "all"),
            ),
        )
        assert rerun.success
        (verified,) = rerun.asset_materializations_for_node("shop__verifications")
        assert verified.metadata["credits_charged"].value == 0
        assert ledger.credits_used("shop", current_month()) == monthly_credits + 5
        assert monthly.success


def test_a_failed_window_is_covered_by_the_next(
    sandbox: Sandbox, env, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sandbox.account
    defs = definitions(SETTINGS)
    with dg.instance_for_test() as instance:
        # later than anything the other test wrote to the shared sandbox account
        base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
        t1, t2, t3 = (base + timedelta(minutes=m) for m in (30, 60, 90))
        # no monthly read yet: the watch starts now, without a run
        start = tick(defs, instance, None, base)
        assert not start.run_requests
        assert WatchCursor.load(start.cursor).watermark == base

        lost = account.add_contact("lost.erin@gmail.com", cdate=at(base) + 60).id
        first = tick(defs, instance, start.cursor, t1)
        monkeypatch.setenv(KEY_ENV, "0" * 64)  # ActiveCampaign refuses the key: the run fails
        failed, _ = run_window(defs, instance, first)
        assert not failed.success
        monkeypatch.setenv(KEY_ENV, sandbox.api_key)

        second = tick(defs, instance, first.cursor, t2)
        (request,) = second.run_requests
        window = parse_window_key(request.partition_key)
        assert window.since == base - timedelta(minutes=15) and window.until == t2
        run, meta = run_window(defs, instance, second)
        assert run.success
        seen = table(env, "new_contacts", request.partition_key)
        assert seen.filter(pl.col("verify"))["contact_id"].to_list() == [lost]

        assert meta["new_contacts"]["new_addresses"] == 1

        # while a window's run is queued or running, the next tick waits for it
        third = tick(defs, instance, second.cursor, t3)
        assert len(third.run_requests) == 1  # requested, not run yet
        waiting = tick(defs, instance, third.cursor, t3 + timedelta(minutes=30))
        assert isinstance(waiting, dg.SkipReason)
        assert json.loads(third.cursor)["watermark"] == t2.isoformat()


def test_the_sensor_is_off_by_default_and_ticks_at_the_configured_pace() -> None:
    from ac_hygiene.config import NewContactsSettings

    defs = definitions(shop(new_contacts=NewContactsSettings(interval_hours=2, overlap_minutes=5)))
    sensor = defs.resolve_sensor_def("shop__new_contacts")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 2 * 3600
    job = defs.resolve_job_def(JOB)
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "shop/new_contacts",
        "shop/new_verifications",
        "shop/new_clean_plan",
    }


def test_with_auto_apply_a_window_is_applied_and_a_refused_one_does_not_stall_the_watch(
    sandbox: Sandbox, env
) -> None:
    account = sandbox.account
    settings = shop(auto_apply=True)  # change-share limit 0.5 (the suite's `shop`)
    defs = definitions(settings)
    job = defs.resolve_job_def(JOB)
    assert "shop/new_applied_actions" in {
        k.to_user_string() for k in job.asset_layer.executable_asset_keys
    }
    with dg.instance_for_test() as instance:
        # later than anything the other tests wrote to the shared sandbox account
        base = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
        t1, t2, t3 = (base + timedelta(minutes=m) for m in (30, 60, 90))

        def watch(cursor: str | None, now: datetime):
            return tick(defs, instance, cursor, now, settings)

        start = watch(None, base)
        good = [
            account.add_contact(f"{name}@gmail.com", cdate=at(base) + 60).id
            for name in ("auto.fay", "auto.gus")
        ]
        junk = account.add_contact("auto.junk@mailinator.com", cdate=at(base) + 60).id
        first = watch(start.cursor, t1)
        (request,) = first.run_requests
        run = execute(defs, instance, request)
        assert run.success
        applied = table(env, "new_applied_actions", request.partition_key)
        outcome = {
            r["contact_id"]: (r["action"], r["outcome"]) for r in applied.iter_rows(named=True)
        }
        assert outcome[junk] == ("delete", "done")  # disposable: deleted, after a backup
        assert junk not in account.contacts
        assert all(g in account.contacts for g in good)  # deliverable: kept, nothing written

        # a window that is all disposable (enough contacts for a share to count): the blocking
        # checks fail and the guardrail refuses its apply, nothing is deleted
        refused = [
            account.add_contact(f"auto.spam{i}@mailinator.com", cdate=at(t1) + 60).id
            for i in range(25)
        ]
        second = watch(first.cursor, t2)
        (request,) = second.run_requests
        run = execute(defs, instance, request)
        assert not run.success
        failed_checks = {e.check_name for e in run.get_asset_check_evaluations() if not e.passed}
        assert "change_share_within_limit" in failed_checks
        assert all(r in account.contacts for r in refused)
        # ... and the watch moves on: the window was read, verified and planned
        third = watch(second.cursor, t3)
        assert json.loads(third.cursor)["watermark"] == t2.isoformat()
