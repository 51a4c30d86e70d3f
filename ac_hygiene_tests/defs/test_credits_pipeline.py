"""Credits in the pipeline, on real sandbox servers: a balance too small stops `verifications`
before any DNS or SMTP traffic; once topped up, the run charges and its numbers add up; a run
that ended without releasing its hold gives it back at the next run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.hygiene import CreditLedger
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path
from ac_hygiene_tests.defs.conftest import Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def mail(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A mail world of this test's own, so that its query counts are this test's alone."""
    world = MailWorld.load(default_world_path())
    with MailWorldServer(world).run_in_thread() as running:
        monkeypatch.setenv("AC_HYGIENE_DNS", f"{running.dns_host}:{running.dns_port}")
        monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(running.smtp_port))
        yield running


def _segment_run(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    request = dg.RunRequest(
        job_name="shop__segment_job", partition_key=month_segment_key(current_month(), "all")
    )
    return execute(defs, instance, request)


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = result.asset_materializations_for_node("shop__verifications")
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def test_a_short_balance_stops_verification_before_any_traffic(
    sandbox: Sandbox, env: Path, mail
) -> None:
    ledger_url = f"sqlite:///{env / 'ledger.sqlite'}"
    distinct = len({c.email.strip().lower() for c in sandbox.account.contacts.values()})
    with CreditLedger(ledger_url) as ledger:
        ledger.top_up("shop", 10)
    defs = definitions(shop())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        failed = _segment_run(defs, instance)
        assert not failed.success
        (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failure.step_key == "shop__verifications"
        message = failure.event_specific_data.error.message
        assert f"shop {current_month()} all needs {distinct:,} credits, balance 10" in message
        assert f"ac-hygiene credits add --connection shop {distinct - 10}" in message
        assert mail.stats.dns_queries == 0  # nothing verified: no DNS, no SMTP
        assert sum(mail.stats.smtp_connections.values()) == 0

        with CreditLedger(ledger_url) as ledger:
            ledger.top_up("shop", distinct)
        done = _segment_run(defs, instance)
        assert done.success
        meta = _metadata(done)
        report = execute(
            defs,
            instance,
            dg.RunRequest(job_name="shop__report_job", partition_key=current_month()),
        )
        assert report.success
        (event,) = report.asset_materializations_for_node("shop__hygiene_report")
        shown = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    # the numbers a user reads add up
    assert meta["addresses_in_segment"] - meta["duplicates"] == meta["distinct_addresses"]
    assert meta["distinct_addresses"] == distinct
    assert (
        meta["credits_already_charged"] + meta["unknown_not_charged"] + meta["credits_charged"]
        == meta["distinct_addresses"]
    )
    assert meta["from_cache"] + meta["verified_now"] == meta["distinct_addresses"]
    assert meta["credits_held"] == distinct
    assert meta["credits_released"] == distinct - meta["credits_charged"]
    assert meta["balance_after"] == 10 + distinct - meta["credits_charged"]
    assert "= **charged**" in meta["credits"]
    assert meta["totals_add_up"] is True
    assert meta["credits_charged"] > 0 and meta["unknown_not_charged"] > 0
    with CreditLedger(ledger_url) as ledger:
        assert ledger.credits_used("shop", current_month()) == meta["credits_charged"]
        state = ledger.account("shop", current_month())
    assert (state.balance, state.held) == (meta["balance_after"], 0)
    # the report: credits per segment and for the month, and the balance
    assert shown["credits_used"] == meta["credits_charged"]
    assert shown["balance"] == meta["balance_after"]
    assert f"| all | 1 | {meta['credits_charged']} |" in shown["credits_by_segment"]
    assert f"balance {meta['balance_after']:,}" in shown["credits"]


def test_the_hold_of_a_run_that_ended_without_releasing_is_returned(
    sandbox: Sandbox, env: Path, mail
) -> None:
    ledger_url = f"sqlite:///{env / 'ledger.sqlite'}"
    distinct = len({c.email.strip().lower() for c in sandbox.account.contacts.values()})
    defs = definitions(shop())
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        # a run of this instance that reserved everything and died (marked failed)
        dead = instance.create_run_for_job(
            defs.resolve_job_def("shop__account_job"), run_id=None, tags={}
        )
        instance.report_run_failed(dead)
        with CreditLedger(ledger_url) as ledger:
            ledger.top_up("shop", distinct)
            ledger.reserve("shop", current_month(), distinct, run_id=dead.run_id, segment="tag-1")
            assert ledger.account("shop", current_month()).available == 0
        assert _segment_run(defs, instance).success
        with CreditLedger(ledger_url) as ledger:
            assert ledger.open_run_ids("shop") == []
