"""The ActiveCampaign pool: a step that calls the account waits while another run holds it."""

import threading
import time

import dagster as dg
import pytest

from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene_tests.defs.conftest import definitions, shop

pytestmark = pytest.mark.usefixtures("env")
POOL = "activecampaign-shop"


def blocked_messages(instance: dg.DagsterInstance) -> list[str]:
    messages = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            if f"blocked by limit for pool {POOL}" in (entry.message or ""):
                messages.append(entry.step_key or "")
    return messages


def test_extraction_waits_for_the_accounts_pool_slot() -> None:
    defs = definitions(shop())
    overrides = {"concurrency": {"pools": {"default_limit": 1, "granularity": "op"}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        # Another run of the same account holds the only slot.
        assert storage.claim_concurrency_slot(POOL, "other-run", "other-step").is_claimed

        request = dg.RunRequest(
            job_name="shop__segment_job", partition_key=month_segment_key(current_month(), "all")
        )
        outcome: list[dg.ExecuteInProcessResult] = []
        runner = threading.Thread(target=lambda: outcome.append(execute(defs, instance, request)))
        runner.start()
        deadline = time.monotonic() + 30
        while not blocked_messages(instance) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert blocked_messages(instance) == ["shop__segment_contacts"]
        assert not instance.get_materialized_partitions(dg.AssetKey(["shop", "segment_contacts"]))

        storage.free_concurrency_slot_for_step("other-run", "other-step")
        runner.join(60)
        assert outcome and outcome[0].success
        assert storage.get_concurrency_info(POOL).active_slot_count == 0
