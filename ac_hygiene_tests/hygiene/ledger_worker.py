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


def bill_main(barrier: Any, results: Any, url: str, batch: Batch, run_id: str) -> None:
    """A segment run as the asset does it: estimate, reserve, "verify", charge, release.
    Reports (run_id, charged) or (run_id, "InsufficientCredits")."""
    from ac_hygiene.hygiene import CreditLedger, InsufficientCredits
    from ac_hygiene.hygiene.billing import bill_segment

    frame = pl.DataFrame(batch, schema=["email", "status"], orient="row")
    try:
        with CreditLedger(url) as ledger:
            barrier.wait(timeout=60)
            _, bill = bill_segment(
                ledger,
                connection="acct",
                month="2026-05",
                segment=run_id,
                run_id=run_id,
                addresses=frame["email"].to_list(),
                verify=lambda _keep_alive: frame,
            )
            results.put((run_id, bill.charge.charged))
    except InsufficientCredits:
        results.put((run_id, "InsufficientCredits"))
    except Exception as exc:
        results.put((run_id, f"{type(exc).__name__}: {exc}"))


def reserve_charge_then_hang(url: str, ready: Any, ttl_s: float) -> None:
    """Reserve 1,000 credits, charge 100 of them, then hang until killed (SIGKILL)."""
    import time
    from datetime import timedelta

    from ac_hygiene.hygiene import CreditLedger

    ledger = CreditLedger(url)
    hold = ledger.reserve(
        "acct", "2026-05", 1_000, run_id="doomed", segment="tag-1", ttl=timedelta(seconds=ttl_s)
    )
    emails = [(f"doomed{i}@d.com", "deliverable") for i in range(100)]
    frame = pl.DataFrame(emails, schema=["email", "status"], orient="row")
    ledger.charge("acct", "2026-05", frame, run_id="doomed", reservation=hold)
    ready.set()
    while True:
        time.sleep(1)
