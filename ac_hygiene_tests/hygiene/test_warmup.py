"""The snapshot's cache warm-up (hygiene.warmup) with a scripted verifier: funds, guard, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from ac_hygiene.hygiene import SqlResultCache
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene.hygiene.warmup import CacheWarmup
from ac_hygiene.verification import VerificationSettings
from ac_hygiene_tests.hygiene.frames import verifications_frame

MONTH = "2026-05"


class ScriptedVerifier:
    """Stands in for `verify_emails`: a verdict per address by its local part's prefix, stored
    in the cache like the engine stores them (cache hits reused, marked `from_cache`)."""

    def __init__(self, kind_of=lambda email: email.split(".")[0]) -> None:
        self.kind_of = kind_of
        self.calls: list[list[str]] = []

    def __call__(self, emails, settings, *, cache=None, **_):
        self.calls.append(list(emails))
        fresh = datetime.now(UTC)
        frame = verifications_frame([(e, self.kind_of(e)) for e in emails], checked_at=fresh)
        hits = cache.get_many(frame["email_normalized"].to_list()) if cache else {}
        frame = frame.with_columns(from_cache=pl.col("email_normalized").is_in(list(hits)))
        if cache is not None:
            rows = frame.filter(~pl.col("from_cache")).drop("email", "from_cache", "billable")
            cache.put_many(rows.to_dicts())
        return frame


def warmup(url: str, verify: ScriptedVerifier, **kw) -> CacheWarmup:
    return CacheWarmup(
        connection="shop",
        month=MONTH,
        ledger_url=url,
        settings=VerificationSettings(),
        freshness=timedelta(days=30),
        verify=verify,
        chunk=kw.pop("chunk", 50),
        **kw,
    )


def pages(emails: list[str], size: int = 100) -> list[list[str]]:
    return [emails[i : i + size] for i in range(0, len(emails), size)]


def cached(url: str, emails: list[str]) -> int:
    with SqlResultCache(url) as cache:
        return len(cache.get_many([e.lower() for e in emails]))


def test_pages_are_verified_into_the_cache_while_they_arrive(sqlite_url: str) -> None:
    emails = [f"accepted.u{i}@acme.example" for i in range(230)] + [
        f"mailbox_not_found.v{i}@acme.example" for i in range(20)
    ]
    verify = ScriptedVerifier()
    w = warmup(sqlite_url, verify)
    assert w.begin(expected=len(emails))
    for page in pages([*emails, None, "", emails[0]]):  # blanks and a repeat: not verified
        w.offer(page)
    summary = w.finish(timeout_s=30)
    assert summary.state == "warmed", summary
    assert summary.verified_now == 250 and summary.left_to_segments == 0
    assert sum(len(c) for c in verify.calls) == 250  # each distinct address once
    assert all(len(c) <= 50 for c in verify.calls)  # in chunks, as pages arrive
    assert cached(sqlite_url, emails) == 250
    assert summary.uncached == 0

    again = warmup(sqlite_url, ScriptedVerifier())  # a re-run of the snapshot this month
    assert again.begin(expected=len(emails))
    for page in pages(emails):
        again.offer(page)
    summary = again.finish(timeout_s=30)
    assert (summary.from_cache, summary.verified_now) == (250, 0)


def test_a_balance_that_cannot_cover_the_snapshot_skips_the_warm_up(sqlite_url: str) -> None:
    with CreditLedger(sqlite_url) as credits:
        credits.top_up("shop", 100)
    verify = ScriptedVerifier()
    w = warmup(sqlite_url, verify)
    assert not w.begin(expected=250)
    w.offer([f"accepted.u{i}@acme.example" for i in range(100)])
    summary = w.finish(timeout_s=5)
    assert summary.state == "skipped" and "100 credits" in summary.reason
    assert verify.calls == [] and summary.left_to_segments == 100
    assert any("no warm-up" in m for m in w.drain_messages())


def test_a_budget_that_runs_out_mid_read_stops_the_warm_up(sqlite_url: str) -> None:
    """The account said 100 contacts, 300 came (contacts added during the read)."""
    with CreditLedger(sqlite_url) as credits:
        credits.set_budget("shop", 120)
    verify = ScriptedVerifier()
    w = warmup(sqlite_url, verify)
    assert w.begin(expected=100)
    for page in pages([f"accepted.u{i}@acme.example" for i in range(300)]):
        w.offer(page)
    summary = w.finish(timeout_s=30)
    assert summary.state == "stopped" and "budget" in summary.reason
    assert sum(len(c) for c in verify.calls) <= 120  # never more than the budget covers
    assert summary.verified_now + summary.left_to_segments == 300


def test_an_unmetered_connection_warms_whatever_its_size(sqlite_url: str) -> None:
    w = warmup(sqlite_url, ScriptedVerifier())
    assert w.begin(expected=10**9)
    w.offer(["accepted.a@acme.example"])
    assert w.finish(timeout_s=10).state == "warmed"


def test_a_suspect_chunk_is_uncached_and_stops_the_warm_up(sqlite_url: str) -> None:
    """A resolver answering NXDOMAIN for everything: the first chunk's verdicts leave the cache
    again and nothing more is probed."""
    verify = ScriptedVerifier(kind_of=lambda email: "no_domain")
    w = warmup(sqlite_url, verify, chunk=100)
    assert w.begin(expected=500)
    emails = [f"u{i}@d{i % 7}.example" for i in range(500)]
    for page in pages(emails):
        w.offer(page)
    summary = w.finish(timeout_s=30)
    assert summary.state == "stopped" and "verifier failure" in summary.reason
    assert len(verify.calls) == 1 and summary.uncached == 100
    assert cached(sqlite_url, emails) == 0
    assert summary.left_to_segments == 400
    assert any("verifies them again" in m for m in w.drain_messages())


def test_the_whole_warmed_batch_is_judged_when_the_read_ends(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks the per-chunk check lets through (here: forced sound), a whole batch shaped like
    a broken resolver: when the read ends every warmed address leaves the cache again."""
    from ac_hygiene.hygiene import warmup as module
    from ac_hygiene.hygiene.assessment import PlanAssessment

    monkeypatch.setattr(module, "assess_batch", lambda *a, **k: PlanAssessment([], {}))
    verify = ScriptedVerifier(kind_of=lambda email: "no_domain")
    w = warmup(sqlite_url, verify, chunk=100)
    assert w.begin(expected=None)
    emails = [f"u{i}@d{i % 7}.example" for i in range(300)]
    for page in pages(emails):
        w.offer(page)
    summary = w.finish(timeout_s=30)
    assert len(verify.calls) == 3  # every chunk verified...
    assert summary.state == "stopped" and summary.uncached == 300  # ...and all of it uncached
    assert cached(sqlite_url, emails) == 0


def test_a_failing_verifier_never_raises_to_the_read(sqlite_url: str) -> None:
    def broken(*_a, **_k):
        raise OSError("network is unreachable")

    w = warmup(sqlite_url, broken)
    assert w.begin(expected=100)
    for page in pages([f"accepted.u{i}@acme.example" for i in range(200)]):
        w.offer(page)
    summary = w.finish(timeout_s=10)
    assert summary.state == "failed" and "network is unreachable" in summary.reason
    assert summary.left_to_segments > 0
    assert any("failed" in m for m in w.drain_messages())


def test_a_warm_up_that_falls_behind_leaves_pages_to_the_segments(sqlite_url: str) -> None:
    import threading

    gate = threading.Event()
    inner = ScriptedVerifier()

    def slow(emails, settings, **kw):
        gate.wait(10)
        return inner(emails, settings, **kw)

    w = warmup(sqlite_url, slow, chunk=100, max_pending=200)
    assert w.begin(expected=None)
    for page in pages([f"accepted.u{i}@acme.example" for i in range(1_000)]):
        w.offer(page)  # never blocks the read
    gate.set()
    summary = w.finish(timeout_s=30)
    assert summary.left_to_segments >= 600 and "behind" in summary.reason
    assert summary.verified_now + summary.left_to_segments == 1_000


@pytest.mark.parametrize("timeout_s", [0.0])
def test_the_read_waits_for_the_warm_up_no_longer_than_told(
    sqlite_url: str, timeout_s: float
) -> None:
    import threading

    gate = threading.Event()
    inner = ScriptedVerifier()

    def slow(emails, settings, **kw):
        gate.wait(2)
        return inner(emails, settings, **kw)

    w = warmup(sqlite_url, slow, chunk=100)
    assert w.begin(expected=None)
    for page in pages([f"accepted.u{i}@acme.example" for i in range(500)]):
        w.offer(page)
    summary = w.finish(timeout_s=timeout_s)
    assert summary.left_to_segments >= 300  # the queued chunks were left, not waited for
    assert summary.verified_now + summary.left_to_segments == 500
