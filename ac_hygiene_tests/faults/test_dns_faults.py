"""Issue 13, items 1 and 2: a broken resolver must never cost a customer a contact.

Table-driven over the two ways DNS breaks (a resolver that answers NXDOMAIN for every name, and
one that cannot be reached), each against the real sandbox API, the real mail world and the
ledger and cache on PostgreSQL. What must hold, case by case:

- no verdict from a broken world: no address is undeliverable, disposable or anything else on
  DNS evidence; nothing is unsubscribed or deleted but syntax-invalid addresses, and only those
  are charged (engine side: branch issue-8);
- the plan fails a blocking check, so nothing downstream treats it as good (branch issue-9);
- none of the batch is cached, and the run after DNS is fixed verifies again and finds what a
  clean run finds (this branch).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.hygiene.cache import SqlResultCache
from ac_hygiene_tests.faults.conftest import Deployment, metadata

pytestmark = pytest.mark.slow

# Reasons only DNS evidence can give (syntax needs no DNS, so `invalid_syntax` stays definite).
DNS_DERIVED = {"no_domain", "null_mx", "no_mail_server", "disposable", "accepted", "catch_all"}


@dataclass(frozen=True)
class DnsFault:
    name: str
    resolver: str  # a field of Resolvers
    seen_before_the_fix: str


CASES = [
    DnsFault(
        "nxdomain_for_everything",
        "nxdomain",
        "every address undeliverable / no_domain, all unsubscribed, all charged, cached",
    ),
    DnsFault(
        "resolver_unreachable",
        "unreachable",
        "addresses on disposable domains risky / disposable and deleted, and cached",
    ),
]
IDS = [case.name for case in CASES]


def broken_run(deployment: Deployment, case: DnsFault) -> dg.ExecuteInProcessResult:
    deployment.resolver(case.resolver)
    with dg.DagsterInstance.ephemeral() as instance:
        return deployment.run_segment(deployment.definitions(), instance)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_verdict_and_no_action_from_a_broken_resolver(
    deployment: Deployment, case: DnsFault
) -> None:
    result = broken_run(deployment, case)
    checked = deployment.table("verifications")
    plan = deployment.table("clean_plan")
    definite = checked.filter(pl.col("status") != "unknown")
    assert set(definite["reason"].unique()) <= {"invalid_syntax"}, case.seen_before_the_fix
    assert checked.filter(pl.col("status") == "unknown")["reason"].unique().to_list() != []
    assert plan.filter(pl.col("category") == "disposable").height == 0
    assert plan.filter(pl.col("action") == "delete").height == 0  # no DNS, no Delete
    acted = plan.filter(pl.col("action") != "keep")
    assert set(acted["reason"].unique()) <= {"invalid_syntax"}
    charged = metadata(result, "verifications")["credits_charged"]
    assert charged == definite.select(pl.col("email_normalized").n_unique()).item()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_broken_resolver_fails_the_blocking_plan_check(
    deployment: Deployment, case: DnsFault
) -> None:
    result = broken_run(deployment, case)
    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert dg.AssetKey(["shop", "clean_plan"]) in {e.asset_key for e in failed}
    assert not result.success  # the run does not end green with a logged warning


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_broken_batch_is_not_cached_and_the_next_run_verifies_again(
    deployment: Deployment, case: DnsFault
) -> None:
    broken_run(deployment, case)
    broken = deployment.table("verifications")
    keys = broken["email_normalized"].drop_nulls().unique().to_list()
    with SqlResultCache(deployment.ledger_url) as cache:
        assert cache.get_many(keys) == {}, "the broken verdicts are in the cache"

    deployment.resolver("healthy")  # the fault is fixed; same month, same ledger and cache
    with dg.DagsterInstance.ephemeral() as instance:
        healed = deployment.run_segment(deployment.definitions(), instance)
    assert healed.success
    again = deployment.table("verifications")
    assert int(again["from_cache"].sum()) == 0  # verified again, not read from the cache
    plan = deployment.table("clean_plan")

    # The truth: the same addresses, verified by a fresh deployment on a healthy resolver.
    with SqlResultCache(deployment.ledger_url) as cache:
        cache.forget(keys)
    with dg.DagsterInstance.ephemeral() as instance:
        assert deployment.run_segment(deployment.definitions(), instance).success
    truth = deployment.table("verifications")
    truth_plan = deployment.table("clean_plan")
    columns = ["email", "status", "reason"]
    assert again.select(columns).equals(truth.select(columns))
    assert plan.select("contact_id", "action").equals(truth_plan.select("contact_id", "action"))
    assert plan.filter(pl.col("action") == "unsubscribe").height < plan.height / 4
