"""Pure helpers of the segment assets: which cached results a month's run may reuse."""

from datetime import UTC, datetime, timedelta

import polars as pl

from ac_hygiene.defs.segment_assets import cache_freshness, segment_emails


def test_results_from_before_the_month_are_not_reused() -> None:
    three_days_in = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert cache_freshness("2026-12", 30, now=three_days_in) == timedelta(days=3)


def test_late_in_the_month_the_configured_window_applies() -> None:
    late = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert cache_freshness("2026-12", 7, now=late) == timedelta(days=7)


def test_a_backfill_of_a_past_month_uses_the_configured_window() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert cache_freshness("2026-10", 30, now=now) == timedelta(days=30)


def test_a_run_at_the_very_start_of_the_month_reuses_nothing() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert cache_freshness("2027-01", 30, now=start) == timedelta(0)
    # a clock a little behind the partition's month must not give a negative window
    assert cache_freshness("2027-01", 30, now=start - timedelta(seconds=5)) == timedelta(0)


def test_segment_emails_are_distinct_non_blank_in_contact_order() -> None:
    contacts = pl.DataFrame({"email": ["b@x.com", None, " ", "a@x.com", "b@x.com", ""]})
    assert segment_emails(contacts) == ["b@x.com", "a@x.com"]
