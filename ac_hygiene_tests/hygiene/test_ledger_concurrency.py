"""Concurrent runs charging overlapping address sets at the same moment, on SQLite and PostgreSQL:
every address is charged exactly once, whichever run wins it, and no run fails."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ac_hygiene.hygiene import CreditLedger, SqlResultCache
from ac_hygiene.hygiene import ledger as ledger_module
from ac_hygiene_tests.hygiene.ledger_worker import (
    charge_batch,
    distinct_definite,
    overlapping_batches,
    process_main,
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
