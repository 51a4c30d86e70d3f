"""The persistent verification cache, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from ac_hygiene.hygiene import SqlResultCache
from ac_hygiene.schemas import Verifications, empty_frame
from ac_hygiene_tests.hygiene.frames import verifications_frame

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)


def _row(key: str, status: str = "deliverable", *, age: timedelta = timedelta(0), **extra):
    row = {
        "email_normalized": key,
        "status": status,
        "reason": {
            "deliverable": "accepted",
            "undeliverable": "mailbox_not_found",
            "risky": "catch_all",
            "unknown": "smtp_timeout",
        }[status],
        "is_disposable": False,
        "is_role": False,
        "is_free": True,
        "is_catch_all": status == "risky",
        "suggestion": None,
        "mx_host": "mx1.acme.com",
        "smtp_code": 250,
        "checked_at": NOW - age,
    }
    row.update(extra)
    return row


@pytest.fixture
def clock():
    return {"now": NOW}


@pytest.fixture
def cache(db_url, clock):
    with SqlResultCache(db_url, timedelta(days=30), clock=lambda: clock["now"]) as cache:
        yield cache


def test_round_trip_keeps_every_column_and_type(cache):
    row = _row("a@acme.com", "risky", suggestion="a@acme.co", smtp_code=None, is_role=True)
    cache.put_many([row])
    assert cache.get_many(["a@acme.com"]) == {"a@acme.com": row}
    assert cache.get_many(["a@acme.com"])["a@acme.com"]["checked_at"].tzinfo == UTC


def test_only_fresh_rows_are_returned(cache, clock):
    cache.put_many(
        [
            _row("new@d.com", age=timedelta(days=1)),
            _row("edge@d.com", age=timedelta(days=30)),
            _row("old@d.com", age=timedelta(days=30, seconds=1)),
        ]
    )
    assert set(cache.get_many(["new@d.com", "edge@d.com", "old@d.com"])) == {
        "new@d.com",
        "edge@d.com",
    }
    clock["now"] = NOW + timedelta(days=29)  # 29 days on: only the newest is still fresh
    assert set(cache.get_many(["new@d.com", "edge@d.com", "old@d.com"])) == {"new@d.com"}


def test_freshness_window_is_configurable(db_url):
    short = SqlResultCache(db_url, timedelta(hours=1), clock=lambda: NOW)
    short.put_many(
        [_row("a@d.com", age=timedelta(minutes=59)), _row("b@d.com", age=timedelta(hours=2))]
    )
    assert set(short.get_many(["a@d.com", "b@d.com"])) == {"a@d.com"}
    short.close()
    with pytest.raises(ValueError, match="positive duration"):
        SqlResultCache(db_url, timedelta(0))


def test_freshness_is_elapsed_time_even_on_a_zoned_clock(db_url):
    # Paris left summer time on 2026-10-25: 30 wall-clock days before 2026-10-26 12:00 CET are
    # 30 days and 1 hour of elapsed time; the window must not widen (nor narrow in spring).
    for season, local in (
        ("autumn", datetime(2026, 10, 26, 12)),
        ("spring", datetime(2026, 3, 30, 12)),
    ):
        now = local.replace(tzinfo=ZoneInfo("Europe/Paris"))
        utc_now = now.astimezone(UTC)
        stale, fresh = f"stale-{season}@d.com", f"fresh-{season}@d.com"
        with SqlResultCache(db_url, timedelta(days=30), clock=lambda now=now: now) as cache:
            cache.put_many(
                [
                    _row(stale, checked_at=utc_now - timedelta(days=30, minutes=30)),
                    _row(fresh, checked_at=utc_now - timedelta(days=29, hours=23, minutes=30)),
                ]
            )
            assert set(cache.get_many([stale, fresh])) == {fresh}
            assert cache.purge_expired() == 1
            assert set(cache.get_many([stale, fresh])) == {fresh}


def test_unknown_results_are_never_stored(cache):
    cache.put_many([_row("u@d.com", "unknown"), _row("k@d.com", "undeliverable")])
    assert set(cache.get_many(["u@d.com", "k@d.com"])) == {"k@d.com"}


def test_an_unknown_does_not_replace_a_definite_result(cache):
    cache.put_many([_row("a@d.com", "undeliverable", age=timedelta(days=2))])
    cache.put_many([_row("a@d.com", "unknown")])
    assert cache.get_many(["a@d.com"])["a@d.com"]["status"] == "undeliverable"


def test_newer_results_replace_older_ones_never_the_reverse(cache):
    cache.put_many([_row("a@d.com", "deliverable", age=timedelta(days=5))])
    cache.put_many([_row("a@d.com", "undeliverable", age=timedelta(days=1))])
    assert cache.get_many(["a@d.com"])["a@d.com"]["status"] == "undeliverable"
    cache.put_many([_row("a@d.com", "deliverable", age=timedelta(days=3))])  # a late, older run
    assert cache.get_many(["a@d.com"])["a@d.com"]["status"] == "undeliverable"


def test_duplicates_in_one_call_keep_the_newest(cache):
    cache.put_many(
        [
            _row("a@d.com", "undeliverable", age=timedelta(hours=1)),
            _row("a@d.com", "deliverable", age=timedelta(hours=3)),
        ]
    )
    assert cache.get_many(["a@d.com"])["a@d.com"]["status"] == "undeliverable"


def test_unusable_keys_are_neither_stored_nor_looked_up(cache):
    long_key = "x" * 400 + "@d.com"
    cache.put_many([_row(long_key), _row(""), _row(None)])
    assert cache.get_many([long_key, "", None]) == {}  # type: ignore[list-item]
    assert cache.get_many([]) == {}


def test_many_keys_cross_chunks(cache):
    keys = [f"user{i}@d.com" for i in range(2_500)]
    cache.put_many([_row(k) for k in keys])
    found = cache.get_many([*keys, "missing@d.com", keys[0]])
    assert set(found) == set(keys)


def test_rows_from_an_engine_frame_round_trip_into_the_schema(cache):
    frame = verifications_frame(
        [
            ("Alice@Acme.com", "accepted"),
            ("x@mailinator.com", "disposable"),
            ("erin@grey.net", "greylisted"),
        ],
        checked_at=NOW - timedelta(days=1),
    )
    cache.put_many(frame.drop("email", "from_cache", "billable").to_dicts())
    found = cache.get_many(frame["email_normalized"].to_list())
    assert set(found) == {"alice@acme.com", "x@mailinator.com"}
    # what the engine will do with a hit: rebuild a Verifications row from it
    schema = empty_frame(Verifications).schema
    rebuilt = pl.DataFrame(
        [{**row, "email": key, "from_cache": True, "billable": True} for key, row in found.items()],
        schema=schema,
    )
    Verifications.validate(rebuilt)
    expected = frame.filter(pl.col("status") != "unknown").drop("email", "from_cache", "billable")
    assert (
        rebuilt.drop("email", "from_cache", "billable")
        .sort("email_normalized")
        .equals(expected.sort("email_normalized"))
    )


def test_purge_removes_only_stale_rows(cache):
    cache.put_many([_row("new@d.com"), _row("old@d.com", age=timedelta(days=45))])
    assert cache.purge_expired() == 1
    assert cache.purge_expired() == 0
    assert set(cache.get_many(["new@d.com", "old@d.com"])) == {"new@d.com"}


def test_missing_columns_and_bad_times_are_clear_errors(cache):
    row = _row("a@d.com")
    del row["mx_host"]
    with pytest.raises(ValueError, match=r"lacks column\(s\) mx_host"):
        cache.put_many([row])
    with pytest.raises(ValueError, match="checked_at must be a datetime"):
        cache.put_many([_row("a@d.com", checked_at="yesterday")])


def test_naive_times_are_taken_as_utc(cache):
    cache.put_many([_row("a@d.com", checked_at=(NOW - timedelta(days=1)).replace(tzinfo=None))])
    assert cache.get_many(["a@d.com"])["a@d.com"]["checked_at"] == NOW - timedelta(days=1)


def test_cache_shares_the_ledger_database(db_url):
    from ac_hygiene.hygiene import CreditLedger

    with SqlResultCache(db_url, clock=lambda: NOW) as cache, CreditLedger(db_url) as ledger:
        cache.put_many([_row("a@d.com")])
        ledger.charge(
            "acct",
            "2026-05",
            pl.DataFrame({"email": ["a@d.com"], "status": ["deliverable"]}),
            run_id="r",
        )
        assert set(cache.get_many(["a@d.com"])) == {"a@d.com"}
        assert ledger.credits_used("acct", "2026-05") == 1
