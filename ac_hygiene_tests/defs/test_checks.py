"""The asset checks: pandera models enforced, segment tables consistent, failures blocking."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.defs.checks import (
    connection_checks,
    every_email_verified,
    plan_matches_segment,
    schema_result,
)
from ac_hygiene.defs.io import ParquetIOManager
from ac_hygiene.defs.partitions import month_segment_key, month_segment_partitions
from ac_hygiene.schemas import CleanPlan, Contacts, Lists, empty_frame
from ac_hygiene_tests.defs.conftest import shop

pytestmark = pytest.mark.filterwarnings("ignore::dagster.PreviewWarning")

KEY = month_segment_key("2026-04", "all")


def contacts(ids: list[int], emails: list[str | None]) -> pl.DataFrame:
    now = datetime(2026, 4, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "contact_id": ids,
            "email": emails,
            "first_name": [None] * len(ids),
            "last_name": [None] * len(ids),
            "created_at": [now] * len(ids),
            "updated_at": [now] * len(ids),
            "bounced_hard": [False] * len(ids),
            "active_list_ids": [[1]] * len(ids),
            "unsubscribed_list_ids": [[]] * len(ids),
            "tag_ids": [[]] * len(ids),
        },
        schema=empty_frame(Contacts).schema,
    )
    return Contacts.validate(frame)


def plan(ids: list[int], actions: list[str] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "contact_id": ids,
            "email": [f"c{i}@example.com" for i in ids],
            "category": ["valid"] * len(ids),
            "action": actions or ["keep"] * len(ids),
            "list_ids": [[]] * len(ids),
            "reason": ["accepted"] * len(ids),
        },
        schema=empty_frame(CleanPlan).schema,
    )
    return frame


def test_schema_check_passes_good_and_explains_bad_tables() -> None:
    good = pl.DataFrame({"list_id": [1, 2], "name": ["News", "VIP"]})
    assert schema_result(good, Lists).passed

    bad = pl.DataFrame({"list_id": [1, 1, 0], "name": ["a", "b", None]})
    result = schema_result(bad, Lists)
    assert not result.passed
    assert result.metadata["failures"].value == 4
    rules = result.metadata["failures_by_rule"].value
    assert "field_uniqueness" in rules and "not_nullable" in rules

    wrong_action = plan([1], actions=["archive"])
    assert not schema_result(wrong_action, CleanPlan).passed
    extra_column = plan([1]).with_columns(pl.lit(1).alias("surprise"))
    assert not schema_result(extra_column, CleanPlan).passed


def test_plan_must_be_exactly_the_segment() -> None:
    segment = contacts([1, 2, 3], ["a@x.com", "b@x.com", None])
    assert plan_matches_segment(plan([1, 2, 3]), segment).passed

    stranger = plan_matches_segment(plan([1, 2, 3, 99]), segment)
    assert not stranger.passed
    assert stranger.metadata["not_in_segment"].value == 1
    assert stranger.metadata["examples_not_in_segment"].value == [99]

    gap = plan_matches_segment(plan([1, 3]), segment)
    assert not gap.passed and gap.metadata["missing_from_plan"].value == 1


def test_every_address_must_be_verified() -> None:
    segment = contacts([1, 2, 3, 4], ["a@x.com", "b@x.com", None, "a@x.com"])
    results = pl.DataFrame({"email": ["a@x.com", "b@x.com"]})
    assert every_email_verified(results, segment).passed
    partial = every_email_verified(results.head(1), segment)
    assert not partial.passed
    assert partial.metadata["examples"].value == ["b@x.com"]


def test_a_failing_blocking_check_stops_the_segment_run(tmp_path: Path) -> None:
    """Bad contacts are not verified: the downstream asset of the same run never executes."""
    settings = shop()
    parts = month_segment_partitions("shop")
    downstream_ran: list[bool] = []

    @dg.asset(key=["shop", "segment_contacts"], partitions_def=parts)
    def bad_contacts() -> pl.DataFrame:
        return contacts([1, 2], ["a@x.com", "b@x.com"]).with_columns(
            pl.lit(0, dtype=pl.Int64).alias("contact_id")  # ids must be unique and >= 1
        )

    @dg.asset(key=["shop", "verifications"], partitions_def=parts, deps=[bad_contacts])
    def costly_step() -> pl.DataFrame:
        downstream_ran.append(True)
        return pl.DataFrame({"email": []}, schema={"email": pl.String})

    checks = [
        c
        for c in connection_checks(settings)
        if c.check_keys
        == {dg.AssetCheckKey(dg.AssetKey(["shop", "segment_contacts"]), "matches_schema")}
    ]
    assert len(checks) == 1
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        result = dg.materialize(
            [bad_contacts, costly_step, *checks],
            instance=instance,
            partition_key=KEY,
            resources={"io_manager": ParquetIOManager(base_path=str(tmp_path))},
            raise_on_error=False,
        )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["failures"].value >= 1
    assert downstream_ran == []
    assert not result.success
