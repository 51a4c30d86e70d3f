"""Balances, budgets and reservations, on SQLite and PostgreSQL (`db_url` runs each on both).

The invariant every test ends on: credits added = balance + credits charged while metered. A
credit charged twice, lost, or overdrawn breaks it.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from ac_hygiene.hygiene import CreditLedger, InsufficientCredits
from ac_hygiene.hygiene import ledger as ledger_module
from ac_hygiene.hygiene.billing import bill_segment
from ac_hygiene.hygiene.db import Database

MONTH = "2026-05"


def _results(emails: list[str], unknown_every: int = 0) -> pl.DataFrame:
    statuses = [
        "unknown" if unknown_every and i % unknown_every == 0 else "deliverable"
        for i in range(len(emails))
    ]
    return pl.DataFrame({"email": emails, "status": statuses})


def _emails(n: int, start: int = 0, domain: str = "d.com") -> list[str]:
    return [f"user{i}@{domain}" for i in range(start, start + n)]


@pytest.fixture
def ledger(db_url):
    with CreditLedger(db_url) as ledger:
        yield ledger


def assert_conserved(ledger: CreditLedger, connection: str, added: int, months=(MONTH,)) -> None:
    """Every credit added is either still in the balance or was charged exactly once."""
    state = ledger.account(connection, MONTH)
    used = sum(ledger.credits_used(connection, m) for m in months)
    assert state.available >= 0
    assert state.balance + used == added, (state, used, added)


def test_a_connection_without_credits_is_unmetered(ledger):
    state = ledger.account("acct", MONTH)
    assert (state.metered, state.balance, state.monthly_budget) == (False, 0, None)
    assert ledger.charge("acct", MONTH, _results(_emails(50)), run_id="r").charged == 50
    reservation = ledger.reserve("acct", MONTH, 10**9, run_id="r2", segment="all")
    assert not reservation.metered
    assert ledger.release(reservation).balance_after is None


def test_top_ups_make_a_balance_that_charges_draw_down(ledger):
    assert ledger.top_up("acct", 100, note="invoice 1") == 100
    assert ledger.top_up("acct", 50) == 150
    summary = ledger.charge("acct", MONTH, _results(_emails(40), unknown_every=4), run_id="r")
    assert (summary.charged, summary.refunded_unknown) == (30, 10)
    state = ledger.account("acct", MONTH)
    assert (state.metered, state.balance, state.held, state.used_this_month) == (True, 120, 0, 30)
    assert ledger.topups("acct")["credits"].to_list() == [100, 50]
    assert ledger.topups("acct")["balance_after"].to_list() == [100, 150]
    assert_conserved(ledger, "acct", 150)


def test_a_run_that_the_balance_cannot_cover_is_stopped_before_it_verifies(ledger):
    ledger.top_up("acct", 10_000)
    ledger.charge("acct", MONTH, _results(_emails(100)), run_id="earlier")  # already charged
    verified = []
    with pytest.raises(InsufficientCredits) as raised:
        bill_segment(
            ledger,
            connection="acct",
            month=MONTH,
            segment="tag-1",
            run_id="r",
            addresses=_emails(12_345 + 100),
            verify=lambda _keep_alive: verified.append(1) or _results([]),
        )
    assert verified == []
    assert raised.value.needed == 12_345
    assert str(raised.value) == (
        "acct 2026-05 tag-1 needs 12,345 credits, balance 9,900: add credits with "
        "`ac-hygiene credits add --connection acct 2445`"
    )
    assert ledger.account("acct", MONTH).held == 0
    assert_conserved(ledger, "acct", 10_000)


def test_reserve_settle_release(ledger):
    ledger.top_up("acct", 1_000)
    emails = _emails(300) + [e.upper() for e in _emails(20)]  # 20 duplicates by billing key
    _, bill = bill_segment(
        ledger,
        connection="acct",
        month=MONTH,
        segment="list-3",
        run_id="r1",
        addresses=emails,
        verify=lambda _k: _results(_emails(300), unknown_every=10),
    )
    assert bill.estimate.needed == 300
    assert (bill.estimate.addresses, bill.estimate.duplicates, bill.estimate.distinct) == (
        320,
        20,
        300,
    )
    assert (bill.charge.charged, bill.unknown, bill.settlement.released) == (270, 30, 30)
    assert bill.settlement.balance_after == 730
    assert bill.adds_up()
    segments = ledger.segments("acct", MONTH)
    assert segments.rows() == [("list-3", 1, 270, 30, 0)]
    statement = ledger.statement("acct", MONTH)
    assert set(statement["segment"]) == {"list-3"}
    assert_conserved(ledger, "acct", 1_000)


def test_the_hold_is_returned_when_verification_fails(ledger):
    ledger.top_up("acct", 500)

    def broken(_keep_alive):
        raise RuntimeError("resolver down")

    with pytest.raises(RuntimeError, match="resolver down"):
        bill_segment(
            ledger,
            connection="acct",
            month=MONTH,
            segment="all",
            run_id="r",
            addresses=_emails(400),
            verify=broken,
        )
    state = ledger.account("acct", MONTH)
    assert (state.available, state.held, state.balance) == (500, 0, 500)


def test_two_runs_cannot_both_pass_a_check_only_one_fits(ledger):
    ledger.top_up("acct", 1_000)
    first = ledger.reserve("acct", MONTH, 700, run_id="a", segment="tag-1")
    with pytest.raises(InsufficientCredits, match=r"balance 1,000 \(700 of it held"):
        ledger.reserve("acct", MONTH, 400, run_id="b", segment="tag-2")
    ledger.charge("acct", MONTH, _results(_emails(500)), run_id="a", reservation=first)
    assert ledger.release(first).released == 200
    second = ledger.reserve("acct", MONTH, 400, run_id="b", segment="tag-2")
    ledger.charge("acct", MONTH, _results(_emails(400, 500)), run_id="b", reservation=second)
    ledger.release(second)
    state = ledger.account("acct", MONTH)
    assert (state.balance, state.available, state.held) == (100, 100, 0)
    assert_conserved(ledger, "acct", 1_000)


def test_a_charge_without_reservation_on_a_metered_connection_cannot_overdraw(ledger):
    ledger.top_up("acct", 100)
    with pytest.raises(InsufficientCredits, match="needs 150 credits, balance 100"):
        ledger.charge("acct", MONTH, _results(_emails(150)), run_id="r")
    assert ledger.credits_used("acct", MONTH) == 0
    # what is already charged this month costs nothing: 100 new + 50 charged earlier fits
    ledger.charge("acct", MONTH, _results(_emails(50)), run_id="r1")
    ledger.charge("acct", MONTH, _results(_emails(100)), run_id="r2")
    assert ledger.account("acct", MONTH).balance == 0
    assert_conserved(ledger, "acct", 100)


def test_monthly_budget(ledger):
    ledger.set_budget("acct", 500)  # a budget alone: no balance, still capped
    ledger.charge("acct", MONTH, _results(_emails(300)), run_id="r1")
    state = ledger.account("acct", MONTH)
    assert (state.metered, state.budget_left, state.used_this_month) == (False, 200, 300)
    with pytest.raises(InsufficientCredits) as raised:
        ledger.reserve("acct", MONTH, 250, run_id="r2", segment="tag-1")
    assert "200 left of 2026-05's budget of 500 (300 used" in str(raised.value)
    assert "credits budget --connection acct 550" in str(raised.value)
    # next month has a budget of its own
    ledger.release(ledger.reserve("acct", "2026-06", 500, run_id="r3", segment="all"))
    ledger.set_budget("acct", None)
    ledger.release(ledger.reserve("acct", MONTH, 10_000, run_id="r4", segment="all"))


def test_budget_and_balance_both_apply(ledger):
    ledger.top_up("acct", 1_000)
    ledger.set_budget("acct", 300)
    with pytest.raises(InsufficientCredits, match="budget of 300"):
        ledger.reserve("acct", MONTH, 301, run_id="r", segment="all")
    hold = ledger.reserve("acct", MONTH, 300, run_id="r", segment="all")
    with pytest.raises(InsufficientCredits, match="0 left of 2026-05's budget"):
        ledger.reserve("acct", MONTH, 1, run_id="r2", segment="tag-1")
    ledger.release(hold)
    assert ledger.account("acct", MONTH).balance == 1_000


def test_a_killed_run_s_hold_expires_and_returns_to_the_balance(ledger):
    ledger.top_up("acct", 1_000)
    killed = ledger.reserve(
        "acct", MONTH, 800, run_id="killed", segment="tag-1", ttl=timedelta(seconds=-1)
    )
    # it charged one chunk, then was killed (no release)
    ledger.charge("acct", MONTH, _results(_emails(100)), run_id="killed", reservation=killed)
    # the next run finds the hold expired and reclaimed: 900 left, not 200
    state = ledger.account("acct", MONTH)
    assert (state.balance, state.held, state.available) == (900, 0, 900)
    ledger.release(ledger.reserve("acct", MONTH, 900, run_id="next", segment="tag-2"))
    assert_conserved(ledger, "acct", 1_000)


def test_a_slow_run_whose_hold_expired_takes_its_credits_again_or_stops(ledger, monkeypatch):
    monkeypatch.setattr(ledger_module, "CHUNK_SIZE", 50)
    ledger.top_up("acct", 300)
    slow = ledger.reserve(
        "acct", MONTH, 200, run_id="slow", segment="tag-1", ttl=timedelta(seconds=-1)
    )
    assert ledger.reclaim_expired("acct") == 1
    other = ledger.reserve("acct", MONTH, 250, run_id="other", segment="tag-2")
    # the slow run now charges 200: only 50 are available, so it stops after one chunk
    with pytest.raises(InsufficientCredits, match="past its hold"):
        ledger.charge("acct", MONTH, _results(_emails(200)), run_id="slow", reservation=slow)
    assert ledger.credits_used("acct", MONTH) == 50
    ledger.release(slow)
    ledger.release(other)
    assert_conserved(ledger, "acct", 300)


def test_keep_alive_renews_the_hold(ledger):
    ledger.top_up("acct", 100)
    past = ledger.reserve("acct", MONTH, 60, run_id="r", segment="all", ttl=timedelta(seconds=-1))
    assert ledger.reclaim_expired("acct") == 1
    assert not ledger.renew(past)  # too late: its credits went back to the balance
    fresh = ledger.reserve("acct", MONTH, 100, run_id="r2", segment="all")
    assert ledger.renew(fresh)
    assert ledger.reclaim_expired("acct") == 0
    assert ledger.account("acct", MONTH).held == 100


def test_releasing_the_holds_of_ended_runs(ledger):
    ledger.top_up("acct", 1_000)
    ledger.reserve("acct", MONTH, 600, run_id="dead", segment="tag-1")
    assert ledger.open_run_ids("acct") == ["dead"]
    assert ledger.release_runs("acct", ["dead", "unknown-run"]) == 1
    assert ledger.open_run_ids("acct") == []
    assert ledger.account("acct", MONTH).available == 1_000


def test_a_retried_step_replaces_its_own_earlier_hold(ledger):
    ledger.top_up("acct", 1_000)
    ledger.reserve("acct", MONTH, 700, run_id="run-1", segment="tag-1")
    # same run, same segment: the earlier attempt is over, its hold does not block the retry
    retry = ledger.reserve("acct", MONTH, 700, run_id="run-1", segment="tag-1")
    assert ledger.account("acct", MONTH).held == 700
    ledger.release(retry)
    assert ledger.release(retry).released == 0  # idempotent
    assert ledger.account("acct", MONTH).available == 1_000


def test_retries_charge_nothing_and_refund_nothing_twice(ledger):
    ledger.top_up("acct", 1_000)
    emails = _emails(100)

    def run(run_id: str):
        return bill_segment(
            ledger,
            connection="acct",
            month=MONTH,
            segment="all",
            run_id=run_id,
            addresses=emails,
            verify=lambda _k: _results(emails, unknown_every=5),
        )[1]

    first, retry = run("r1"), run("r2")
    assert (first.charge.charged, first.charge.refunded_unknown) == (80, 20)
    assert (retry.estimate.needed, retry.charge.charged, retry.charge.refunded_unknown) == (
        20,
        0,
        0,
    )
    assert retry.charge.unknown_already_refunded == 20
    assert retry.adds_up()
    assert ledger.refunds_held("acct", MONTH) == 20
    assert_conserved(ledger, "acct", 1_000)


def test_the_database_refuses_an_overdraft_whatever_the_code_does(db_url, ledger):
    ledger.top_up("acct", 10)
    db = Database(db_url)
    try:
        with (
            pytest.raises(sa.exc.IntegrityError, match=r"(?i)check|constraint"),
            db.engine.begin() as conn,
        ):
            conn.execute(sa.text("UPDATE credit_accounts SET available = available - 11"))
    finally:
        db.dispose()
    assert ledger.account("acct", MONTH).available == 10


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "credits must be positive"),
        (-3, "credits must be positive"),
        (1.5, "whole number"),
        (True, "whole number"),
        (10**13, "at most"),
    ],
)
def test_bad_top_ups_are_refused(sqlite_url, amount, message):
    with CreditLedger(sqlite_url) as ledger, pytest.raises(ValueError, match=message):
        ledger.top_up("acct", amount)
