"""Metadata helpers: previews that put the rows to review first, tables that explain themselves."""

import polars as pl

from ac_hygiene.defs.metadata import (
    INTERESTING_CATEGORIES,
    INTERESTING_STATUSES,
    counts_table,
    guard_limits,
    guard_table,
    markdown_table,
    unsubscribe_scope,
)
from ac_hygiene.hygiene.assessment import AssessmentThresholds


def test_a_preview_shows_interesting_rows_first_in_their_order() -> None:
    statuses = ["deliverable"] * 30 + ["unknown", "risky", None, "undeliverable", "unknown"]
    frame = pl.DataFrame({"n": range(len(statuses)), "status": statuses})
    text = markdown_table(frame, 4, ("status", INTERESTING_STATUSES))
    rows = [line for line in text.splitlines() if line.startswith("| ") and "status" not in line]
    assert rows == [
        "| 33 | undeliverable |",
        "| 31 | risky |",
        "| 30 | unknown |",
        "| 34 | unknown |",
    ]
    assert "4 of 35 rows, status undeliverable / risky / unknown first" in text
    # Without the parameter, or when nothing is interesting: the frame's own order.
    assert "| 0 | deliverable |" in markdown_table(frame, 2)
    plan = pl.DataFrame({"category": ["valid", "valid"]})
    assert markdown_table(plan, 5, ("category", INTERESTING_CATEGORIES)).count("| valid |") == 2


def test_tables_say_what_their_words_mean() -> None:
    table = counts_table(
        {"valid": 3, "invalid": 1}, ("category", "contacts"), {"invalid": "bad"}, note="*x*"
    ).value
    assert "| category | contacts | share | meaning |" in table
    assert "| invalid | 1 | 25.0% | bad |" in table and table.endswith("*x*")

    scope = unsubscribe_scope(2, 5, "all").value
    assert "| contacts unsubscribed | 2 |" in scope and "| list memberships touched | 5 |" in scope
    assert "only the segment's own list" in unsubscribe_scope(2, 2, "list-3").value

    figures = {"verified_addresses": 40, "infrastructure_invalid_share": 0.75}
    guard = guard_table(figures, [], guard_limits(AssessmentThresholds())).value
    assert "| infrastructure_invalid_share | 75.0% | of the invalid ones" in guard
    assert "over 50% and invalid_share over 30%" in guard and "No finding" in guard
    found = guard_table(figures, [{"code": "too_many_unknown", "message": "m"}], {}).value
    assert "- `too_many_unknown`: m" in found
