"""The persistent verification cache, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from ac_hygiene.hygiene import SqlResultCache
from ac_hygiene.hygiene.assessment import assess_batch
from ac_hygiene.hygiene.cache import uncache_suspect_batch
from ac_hygiene.hygiene.policy import CleanPolicy
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


def test_transient_reasons_are_never_stored_whatever_the_status(cache):
    """A row labelled risky/undeliverable but carrying a failure reason is no verdict."""
    rows = [
        _row("a@acme.com", "risky", reason="dns_error"),
        _row("b@acme.com", "undeliverable", reason="dns_unreliable"),
        _row("c@acme.com", "undeliverable", reason="smtp_timeout"),
        _row("d@acme.com", "risky", reason="disposable", is_disposable=True),
    ]
    cache.put_many(rows)
    assert set(cache.get_many([r["email_normalized"] for r in rows])) == {"d@acme.com"}


def _batch(kinds: dict[str, int]) -> pl.DataFrame:
    pairs = [(f"user{i}@d{i % 7}.example", kind) for kind, n in kinds.items() for i in range(n)]
    fresh = datetime.now(UTC)  # the cache's real clock judges freshness here
    return verifications_frame([(f"{kind}.{e}", kind) for e, kind in pairs], checked_at=fresh)


def _cache_rows(frame: pl.DataFrame) -> list[dict]:
    return frame.drop("email", "from_cache", "billable").to_dicts()


def test_a_suspect_batch_is_removed_from_the_cache(db_url):
    """An NXDOMAIN-for-everything resolver: 95% no_domain. The engine stored the verdicts as it
    went; the batch's shape removes them, so the next run verifies again."""
    batch = _batch({"no_domain": 95, "accepted": 5})
    other = _batch({"accepted": 3}).with_columns(
        pl.col("email_normalized").str.replace("^", "other.")
    )
    with SqlResultCache(db_url) as cache:
        cache.put_many(_cache_rows(batch) + _cache_rows(other))
    logged: list[str] = []
    assessment = uncache_suspect_batch(db_url, batch, log=logged.append)
    assert not assessment.ok
    assert "invalid_looks_like_infrastructure" in {f.code for f in assessment.findings}
    assert assessment.figures["uncached"] == 100
    with SqlResultCache(db_url) as cache:
        assert cache.get_many(batch["email_normalized"].to_list()) == {}
        assert len(cache.get_many(other["email_normalized"].to_list())) == 3  # others untouched
    (line,) = logged
    assert "100 addresses" in line and "verifies them again" in line


def test_a_sound_batch_stays_cached(db_url):
    batch = _batch({"accepted": 70, "mailbox_not_found": 10, "no_domain": 5, "catch_all": 15})
    with SqlResultCache(db_url) as cache:
        cache.put_many(_cache_rows(batch))
    logged: list[str] = []
    assessment = uncache_suspect_batch(db_url, batch, log=logged.append)
    assert assessment.ok and assessment.figures["uncached"] == 0 and logged == []
    with SqlResultCache(db_url) as cache:
        assert len(cache.get_many(batch["email_normalized"].to_list())) == 100


def test_the_batch_guard_judges_with_the_connections_policy(db_url):
    """One big domain rejecting every mailbox is suspect only if the policy acts on it."""
    frame = verifications_frame(
        [(f"u{i}@bigmail.example", "mailbox_full") for i in range(60)]
        + [(f"v{i}@other.example", "accepted") for i in range(40)]
    )
    assert assess_batch(frame).ok  # risky is kept by default: nothing would be acted on
    unsubscribing = CleanPolicy.from_mapping({"risky": "unsubscribe"})
    findings = assess_batch(frame, unsubscribing).findings
    assert [f.code for f in findings] == ["domain_failing_uniformly"]


def test_forget_removes_rows_whatever_their_age(cache):
    cache.put_many([_row("a@acme.com"), _row("b@acme.com", age=timedelta(days=90))])
    assert cache.forget(["a@acme.com", "b@acme.com", "c@acme.com", "x" * 400]) == 2
    assert cache.purge_expired() == 0
