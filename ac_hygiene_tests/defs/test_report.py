"""The monthly report's arithmetic on hand-made frames: overlapping segments count once."""

import dagster as dg
import polars as pl

from ac_hygiene.defs.report_assets import distinct_actions, report_frame, segment_names


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
    }
    assert distinct_actions(plans) == {"keep": 2, "unsubscribe": 1, "delete": 1}


def test_empty_month_and_missing_account_tables() -> None:
    assert report_frame({}, {}).height == 0
    assert distinct_actions({}) == {"keep": 0, "unsubscribe": 0, "delete": 0}
    assert segment_names(None, None) == {"all": "all contacts"}
