"""Entry point for the concurrency tests' child processes (an importable module, for `spawn`)."""

from __future__ import annotations

from typing import Any

import polars as pl

Batch = list[tuple[str, str]]


def overlapping_batches(workers: int, size: int, overlap: int) -> list[Batch]:
    """(email, status) batches where neighbours share `overlap` addresses, each in its own order
    and spelling (case, spaces), so the billing key, not the text, must make them collide. Every
    tenth address is unknown (refunded)."""
    batches = []
    for w in range(workers):
        start = w * (size - overlap)
        batch = [
            (f"user{i}@shared.example", "unknown" if i % 10 == 0 else "deliverable")
            for i in range(start, start + size)
        ]
        if w % 2:
            batch = [(f"  {e.upper()} ", s) for e, s in reversed(batch)]
        batches.append(batch)
    return batches


def distinct_definite(batches: list[Batch]) -> int:
    """What the ledger must hold after all batches: each definite address once."""
    return len({e.strip().lower() for batch in batches for e, s in batch if s != "unknown"})


def charge_batch(url: str, connection: str, month: str, batch: Batch, run_id: str) -> int:
    from ac_hygiene.hygiene import CreditLedger

    frame = pl.DataFrame(batch, schema=["email", "status"], orient="row")
    with CreditLedger(url) as ledger:
        return ledger.charge(connection, month, frame, run_id=run_id).charged


def process_main(barrier: Any, results: Any, url: str, batch: Batch, run_id: str) -> None:
    """Wait for every sibling, then charge at the same moment; report (run_id, charged)."""
    try:
        barrier.wait(timeout=60)
        results.put((run_id, charge_batch(url, "acct", "2026-05", batch, run_id)))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((run_id, f"{type(exc).__name__}: {exc}"))
