"""The monthly report's arithmetic on hand-made frames: overlapping segments count once."""

import dagster as dg
import polars as pl

from ac_hygiene.defs.report_assets import (
    distinct_actions,
    guardrail_verdicts,
    report_frame,
    segment_names,
)
from ac_hygiene.hygiene import CleanPolicy, build_clean_plan
from ac_hygiene_tests.hygiene.frames import contacts_frame, verifications_frame


def plan(ids: list[int], actions: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"contact_id": ids, "action": actions})


def statuses(values: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"status": values})


def test_rows_per_segment_and_distinct_totals() -> None:
    tag = dg.MultiPartitionKey({"month": "2026-05", "segment": "tag-7"})
    lst = dg.MultiPartitionKey({"month": "2026-05", "segment": "list-3"})
    plans = {
        tag: plan([1, 2, 3], ["keep", "unsubscribe", "delete"]),
        lst: plan([2, 3, 4], ["unsubscribe", "delete", "keep"]),  # 2 and 3 are in both
    }
    checked = {
        tag: statuses(["deliverable", "undeliverable", "risky"]),
        lst: statuses(["undeliverable", "risky", "deliverable"]),
    }
    names = segment_names(
        pl.DataFrame({"list_id": [3], "name": ["Newsletter"]}),
        pl.DataFrame({"tag_id": [7], "tag": ["VIP"]}),
    )
    frame = report_frame(plans, checked, names)
    assert frame["segment"].to_list() == ["list-3", "tag-7"]
    assert frame["name"].to_list() == ["Newsletter", "VIP"]
    assert frame.filter(pl.col("segment") == "tag-7").row(0, named=True) == {
        "segment": "tag-7",
        "name": "VIP",
        "contacts": 3,
        "deliverable": 1,
        "undeliverable": 1,
        "risky": 1,
        "unknown": 0,
        "keep": 1,
        "unsubscribe": 1,
        "delete": 1,
        "guardrails": "pass",
    }
    assert distinct_actions(plans) == {"keep": 2, "unsubscribe": 1, "delete": 1}


def test_empty_month_and_missing_account_tables() -> None:
    assert report_frame({}, {}).height == 0
    assert distinct_actions({}) == {"keep": 0, "unsubscribe": 0, "delete": 0}
    assert segment_names(None, None) == {"all": "all contacts"}


def _segment(**counts: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    pairs = []
    for reason, count in counts.items():
        pairs += [(f"{reason}{i}@domain{i % 40}.com", reason) for i in range(count)]
    checked = verifications_frame(pairs)
    return build_clean_plan(contacts_frame([e for e, _ in pairs]), checked, CleanPolicy()), checked


def test_a_plan_the_guardrails_refuse_is_reported_refused_not_planned() -> None:
    # tag-1 is a dirty list; tag-2 is what a resolver answering NXDOMAIN for everything gives
    dirty = dg.MultiPartitionKey({"month": "2026-05", "segment": "tag-1"})
    broken = dg.MultiPartitionKey({"month": "2026-05", "segment": "tag-2"})
    (plan_1, checked_1), (plan_2, checked_2) = (
        _segment(accepted=90, mailbox_not_found=10),
        _segment(accepted=20, no_domain=80),
    )
    plans, checked = {dirty: plan_1, broken: plan_2}, {dirty: checked_1, broken: checked_2}
    verdicts = guardrail_verdicts(plans, checked, max_change_share=0.2)
    assert verdicts[dirty] == "pass"
    assert verdicts[broken].startswith("refused: ") and "infrastructure" in verdicts[broken]
    frame = report_frame(plans, checked, verdicts=verdicts)
    assert frame["guardrails"].to_list() == [verdicts[dirty], verdicts[broken]]
