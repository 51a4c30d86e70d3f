"""Concurrent runs charging overlapping address sets at the same moment, on SQLite and PostgreSQL:
every address is charged exactly once, whichever run wins it, and no run fails."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ac_hygiene.hygiene import CreditLedger, InsufficientCredits, SqlResultCache
from ac_hygiene.hygiene import ledger as ledger_module
from ac_hygiene_tests.hygiene.ledger_worker import (
    bill_main,
    charge_batch,
    distinct_definite,
    overlapping_batches,
    process_main,
    reserve_charge_then_hang,
)


def test_threads_charging_overlapping_sets(db_url, monkeypatch):
    # small chunks: many interleaved transactions instead of one big one per thread
    monkeypatch.setattr(ledger_module, "CHUNK_SIZE", 150)
    batches = overlapping_batches(workers=6, size=900, overlap=600)
    barrier = threading.Barrier(len(batches))

    def run(index: int) -> int:
        barrier.wait(timeout=30)
        return charge_batch(db_url, "acct", "2026-05", batches[index], f"run-{index}")

    with ThreadPoolExecutor(len(batches)) as pool:
        charged = list(pool.map(run, range(len(batches))))

    expected = distinct_definite(batches)
    assert sum(charged) == expected
    with CreditLedger(db_url) as ledger:
        assert ledger.credits_used("acct", "2026-05") == expected
        statement = ledger.statement("acct", "2026-05")
    assert statement["billing_key"].is_unique().all()
    assert statement.filter("charged").height == expected


def test_processes_charging_overlapping_sets(db_url):
    batches = overlapping_batches(workers=3, size=1500, overlap=1000)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(batches))
    results = context.Queue()
    processes = [
        context.Process(
            target=process_main, args=(barrier, results, db_url, batch, f"proc-{i}"), daemon=True
        )
        for i, batch in enumerate(batches)
    ]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=90) for _ in processes)
    for process in processes:
        process.join(timeout=30)

    failures = {run: out for run, out in outcomes.items() if not isinstance(out, int)}
    assert not failures
    expected = distinct_definite(batches)
    assert sum(outcomes.values()) == expected
    with CreditLedger(db_url) as ledger:
        assert ledger.credits_used("acct", "2026-05") == expected


def test_first_use_by_many_runs_at_once_creates_the_schema_once(db_url):
    barrier = threading.Barrier(6)

    def open_and_count(index: int) -> int:
        barrier.wait(timeout=30)
        kind = CreditLedger if index % 2 else SqlResultCache
        store = kind(db_url)
        try:
            return 1
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(open_and_count, range(6))) == 6


@pytest.mark.parametrize("workers", [4])
def test_cache_writers_racing_on_the_same_keys(db_url, workers):
    from datetime import UTC, datetime, timedelta

    base = datetime.now(UTC) - timedelta(hours=1)
    keys = [f"user{i}@race.example" for i in range(400)]

    def rows_for(worker: int) -> list[dict]:
        # each worker writes every key; worker w's result is w minutes newer
        return [
            {
                "email_normalized": k,
                "status": "deliverable",
                "reason": "accepted",
                "is_disposable": False,
                "is_role": False,
                "is_free": False,
                "is_catch_all": False,
                "suggestion": None,
                "mx_host": f"mx{worker}",
                "smtp_code": 250,
                "checked_at": base + timedelta(minutes=worker),
            }
            for k in (keys if worker % 2 else list(reversed(keys)))
        ]

    barrier = threading.Barrier(workers)

    def write(worker: int) -> None:
        with SqlResultCache(db_url) as cache:
            rows = rows_for(worker)
            barrier.wait(timeout=30)
            cache.put_many(rows)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(write, range(workers)))
    with SqlResultCache(db_url) as cache:
        found = cache.get_many(keys)
    assert len(found) == len(keys)
    assert {row["mx_host"] for row in found.values()} == {f"mx{workers - 1}"}


def test_eight_runs_racing_for_a_balance_smaller_than_their_need_never_overdraw(db_url):
    """8 processes bill overlapping segments at the same moment against a balance that covers
    about half of the month: every charge is paid for, none twice, and the balance never goes
    below zero; the runs that did not fit are stopped before verifying."""
    batches = overlapping_batches(workers=8, size=1_000, overlap=400)
    need = distinct_definite(batches)
    added = need // 2
    with CreditLedger(db_url) as ledger:
        ledger.top_up("acct", added)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(batches))
    results = context.Queue()
    processes = [
        context.Process(
            target=bill_main, args=(barrier, results, db_url, batch, f"seg-{i}"), daemon=True
        )
        for i, batch in enumerate(batches)
    ]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)

    errors = {
        r: o for r, o in outcomes.items() if isinstance(o, str) and o != "InsufficientCredits"
    }
    assert not errors
    charged = sum(o for o in outcomes.values() if isinstance(o, int))
    stopped = sum(1 for o in outcomes.values() if o == "InsufficientCredits")
    assert charged > 0 and stopped > 0  # the race was real: some fit, some did not
    with CreditLedger(db_url) as ledger:
        state = ledger.account("acct", "2026-05")
        used = ledger.credits_used("acct", "2026-05")
        statement = ledger.statement("acct", "2026-05")
    assert used == charged  # every charge counted by exactly one run
    assert statement["billing_key"].is_unique().all()
    assert state.held == 0 and state.available >= 0
    assert state.balance + used == added  # nothing lost, nothing overdrawn


@pytest.mark.postgres
def test_a_run_killed_between_reserving_and_settling_does_not_hold_credits_forever(pg_url):
    _killed_run_is_reclaimed(pg_url)


def test_a_killed_run_on_sqlite_is_reclaimed_too(sqlite_url):
    _killed_run_is_reclaimed(sqlite_url)


def _killed_run_is_reclaimed(url: str) -> None:
    import os
    import signal
    import time

    with CreditLedger(url) as ledger:
        ledger.top_up("acct", 1_500)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=reserve_charge_then_hang, args=(url, ready, 3.0), daemon=True)
    child.start()
    try:
        assert ready.wait(timeout=60), "the child never reserved"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
    with CreditLedger(url) as ledger:
        state = ledger.account("acct", "2026-05")
        assert (state.balance, state.held, state.available) == (1_400, 900, 500)
        # while the hold lasts, a run needing more than what is available is stopped
        with pytest.raises(InsufficientCredits):
            ledger.reserve("acct", "2026-05", 600, run_id="next", segment="tag-2")
        time.sleep(3.5)
        # expired: the next run reclaims the dead run's unused hold; its charges stay paid
        hold = ledger.reserve("acct", "2026-05", 1_400, run_id="next", segment="tag-2")
        ledger.release(hold)
        state = ledger.account("acct", "2026-05")
        assert (state.balance, state.held, state.available) == (1_400, 0, 1_400)
        assert ledger.credits_used("acct", "2026-05") == 100
