"""The month dimension: a configured start, only the month in progress is runnable."""

from datetime import UTC, datetime

import pytest

from ac_hygiene.defs.partitions import (
    PastMonthError,
    ensure_runnable_month,
    month_end,
    month_segment_key,
    months,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_month_in_progress_is_runnable() -> None:
    ensure_runnable_month("2026-05", at("2026-05-31T23:59:59"))


def test_a_month_stays_runnable_for_a_grace_period() -> None:
    ensure_runnable_month("2026-05", at("2026-06-03T23:59"))  # planned on the 31st, late
    with pytest.raises(PastMonthError, match=r"month 2026-05 is over.*run the current month"):
        ensure_runnable_month("2026-05", at("2026-06-04T00:00"))
    with pytest.raises(PastMonthError, match="2026-06"):
        ensure_runnable_month("2026-01", at("2026-06-15T12:00"))


def test_a_future_month_is_refused() -> None:
    with pytest.raises(PastMonthError, match="has not begun"):
        ensure_runnable_month("2026-07", at("2026-06-15T12:00"))


def test_month_end_across_a_year() -> None:
    assert month_end("2026-12") == at("2027-01-01T00:00")
    assert month_end("2026-02") == at("2026-03-01T00:00")


def test_months_start_where_configured_and_keys_have_one_separator() -> None:
    keys = months("2026-01").get_partition_keys(current_time=at("2026-03-10T00:00"))
    assert keys == ["2026-01", "2026-02", "2026-03"]
    assert str(month_segment_key("2026-03", "untagged")) == "2026-03|untagged"
