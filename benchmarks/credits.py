"""Benchmark: a month of credits for an account in 10 overlapping tags, on PostgreSQL and SQLite.

    python benchmarks/credits.py --quick            # 10,000 contacts (< 45 s)
    python benchmarks/credits.py                    # 100,000 contacts
    python benchmarks/credits.py --pg-url URL       # a PostgreSQL of yours instead of a throwaway

The account: contacts unique by email, each in 1 to 3 of 10 tags, each address with a known
verdict (72% deliverable, 12% undeliverable, 10% risky, 6% unknown). Every tag is a segment run,
billed as the `verifications` asset bills it (`hygiene.billing.bill_segment`: estimate, reserve,
charge against the hold, release), by 8 concurrent writer processes. The DNS/SMTP verification
itself is replaced by the generator's verdicts (the verify benchmark measures the engine): what
is measured here is the ledger, and the figures are scored against the generator's truth.

Stages, on each database:
1. month M: every segment once. Expected: the distinct non-unknown addresses of the account
   (shared contacts are charged once, unknowns refunded).
2. month M again, every run retried (new run ids): expected 0.
3. month M+1 after 2% of the contacts changed address: expected its distinct non-unknown
   addresses (every month is paid anew, as monthly hygiene implies).
4. overdraft: a metered connection topped up with 60% of the month's need, the 10 segment runs
   racing on 8 writers. Expected: the balance never below zero, credits charged = credits added
   - balance (none lost), and the runs that did not fit stopped before verifying.

Figures (last line, one JSON object): month_charged, expected_month_charged, retry_charged,
next_month_charged, expected_next_month_charged (PostgreSQL); the same prefixed `sqlite_`;
pg_charges_per_s and sqlite_charges_per_s (charged addresses per second in stage 1, 8 writers);
overdraft (credits charged beyond those added, worst of both databases), lost, stopped_runs.
Targets: exact expected figures, retries 0, overdraft 0, pg_charges_per_s >= 2,000.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAGS = 10
WRITERS = 8
MIX = (("deliverable", 0.72), ("undeliverable", 0.12), ("risky", 0.10), ("unknown", 0.06))
REASONS = {
    "deliverable": "accepted",
    "undeliverable": "mailbox_not_found",
    "risky": "catch_all",
    "unknown": "smtp_timeout",
}
MONTH, NEXT_MONTH = "2026-11", "2026-12"

Segment = list[tuple[str, str]]  # (email, status)


# -- the account -------------------------------------------------------------------------------


def make_account(contacts: int, seed: int) -> tuple[list[str], list[str], list[list[int]]]:
    """(emails, statuses, tags of each contact): unique addresses, 1-3 tags per contact."""
    rng = random.Random(seed)
    statuses = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    emails = [
        f"contact{i}.{rng.randrange(10**6):06d}@domain{i % 500}.example" for i in range(contacts)
    ]
    verdicts = rng.choices(statuses, weights=weights, k=contacts)
    tags = [rng.sample(range(TAGS), rng.randint(1, 3)) for _ in range(contacts)]
    return emails, verdicts, tags


def segments_of(emails: list[str], verdicts: list[str], tags: list[list[int]]) -> list[Segment]:
    segments: list[Segment] = [[] for _ in range(TAGS)]
    for email, verdict, contact_tags in zip(emails, verdicts, tags, strict=True):
        for tag in contact_tags:
            segments[tag].append((email, verdict))
    return segments


def definite(emails: list[str], verdicts: list[str]) -> int:
    return len({e.lower() for e, v in zip(emails, verdicts, strict=True) if v != "unknown"})


# -- the writers -------------------------------------------------------------------------------


def _warm() -> None:
    import polars  # noqa: F401

    import ac_hygiene.hygiene.billing  # noqa: F401


def bill(url: str, connection: str, month: str, segment: str, run_id: str, rows: Segment) -> Any:
    """One segment run, billed as the `verifications` asset bills it."""
    import polars as pl

    from ac_hygiene.hygiene import CreditLedger, InsufficientCredits
    from ac_hygiene.hygiene.billing import bill_segment

    emails = [e for e, _ in rows]
    frame = pl.DataFrame(
        {
            "email": emails,
            "status": [s for _, s in rows],
            "reason": [REASONS[s] for _, s in rows],
            "from_cache": [False] * len(rows),
        }
    )
    with CreditLedger(url) as ledger:
        try:
            _, result = bill_segment(
                ledger,
                connection=connection,
                month=month,
                segment=segment,
                run_id=run_id,
                addresses=emails,
                verify=lambda _keep_alive: frame,
            )
        except InsufficientCredits:
            return "stopped"
        assert result.adds_up(), result
        return result.charge.charged


def run_segments(
    pool: ProcessPoolExecutor,
    url: str,
    connection: str,
    month: str,
    segments: list[Segment],
    tag: str,
) -> tuple[list[Any], float]:
    started = time.perf_counter()
    futures = [
        pool.submit(bill, url, connection, month, f"tag-{i}", f"{tag}-tag-{i}", rows)
        for i, rows in enumerate(segments)
    ]
    outcomes = [f.result() for f in futures]
    return outcomes, time.perf_counter() - started


# -- the databases -----------------------------------------------------------------------------


class ThrowawayPostgres:
    """`scripts/pg-throwaway` (what `./dev test` uses): a cluster on a loopback port, removed
    at the end."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ac-hygiene-bench-pg."))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        script = ROOT / "scripts" / "pg-throwaway"
        started = subprocess.run(
            [str(script), "start", str(self.dir), str(port)], capture_output=True, text=True
        )
        if started.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise SystemExit(f"cannot start a throwaway PostgreSQL: {started.stderr.strip()}")
        self.url = started.stdout.strip()

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg-throwaway"), "stop", str(self.dir)], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def fresh_pg_database(admin_url: str, name: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


# -- the stages --------------------------------------------------------------------------------


def stages(
    pool: ProcessPoolExecutor, url: str, label: str, account: dict[str, Any]
) -> dict[str, Any]:
    from ac_hygiene.hygiene import CreditLedger

    emails, verdicts, tags = account["emails"], account["verdicts"], account["tags"]
    segments = segments_of(emails, verdicts, tags)
    CreditLedger(url).close()  # the schema, before the writers race

    outcomes, wall = run_segments(pool, url, "acme", MONTH, segments, "m")
    month_charged = sum(outcomes)
    retry, _ = run_segments(pool, url, "acme", MONTH, segments, "retry")

    moved = account["moved"]
    next_emails = [moved.get(i, e) for i, e in enumerate(emails)]
    next_segments = segments_of(next_emails, account["next_verdicts"], tags)
    nxt, _ = run_segments(pool, url, "acme", NEXT_MONTH, next_segments, "m1")

    need = account["expected_month"]
    added = need * 6 // 10
    with CreditLedger(url) as ledger:
        ledger.top_up("capped", added)
    capped, _ = run_segments(pool, url, "capped", MONTH, segments, "capped")
    with CreditLedger(url) as ledger:
        state = ledger.account("capped", MONTH)
        used = ledger.credits_used("capped", MONTH)
        assert ledger.credits_used("acme", MONTH) == month_charged
    charged_capped = sum(o for o in capped if isinstance(o, int))
    figures = {
        "month_charged": month_charged,
        "retry_charged": sum(retry),
        "next_month_charged": sum(nxt),
        "charges_per_s": round(month_charged / wall, 1),
        "month_wall_s": round(wall, 2),
        "overdraft": max(0, used - added) + max(0, -state.available),
        "lost": added - state.balance - used,
        "capped_charged": used,
        "capped_runs_charged": charged_capped,
        "stopped_runs": sum(1 for o in capped if o == "stopped"),
        "capped_added": added,
    }
    print(
        f"{label}: month {month_charged:,} charged (expected {account['expected_month']:,}) in "
        f"{wall:.2f} s = {figures['charges_per_s']:,.0f} charged addresses/s with {WRITERS} "
        f"writers; retries {figures['retry_charged']:,}; month+1 {figures['next_month_charged']:,} "
        f"(expected {account['expected_next']:,}); capped: {added:,} added, {used:,} charged, "
        f"balance {state.balance:,}, {figures['stopped_runs']} of {TAGS} runs stopped, "
        f"overdraft {figures['overdraft']}, lost {figures['lost']}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 contacts instead of 100,000")
    parser.add_argument("--contacts", type=int, help="account size (overrides --quick)")
    parser.add_argument("--pg-url", help="PostgreSQL server to use (default: a throwaway one)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    contacts = args.contacts or (10_000 if args.quick else 100_000)
    if contacts < 100:
        parser.error("--contacts must be at least 100")

    emails, verdicts, tags = make_account(contacts, args.seed)
    rng = random.Random(args.seed + 1)
    moved = {
        i: f"moved{i}.{rng.randrange(10**6):06d}@newdomain{i % 50}.example"
        for i in rng.sample(range(contacts), contacts // 50)
    }
    next_emails = [moved.get(i, e) for i, e in enumerate(emails)]
    # a new address has a verdict of its own
    fresh = rng.choices([s for s, _ in MIX], weights=[w for _, w in MIX], k=contacts)
    next_verdicts = [fresh[i] if i in moved else v for i, v in enumerate(verdicts)]
    account = {
        "emails": emails,
        "verdicts": verdicts,
        "next_verdicts": next_verdicts,
        "tags": tags,
        "moved": moved,
        "expected_month": definite(emails, verdicts),
        "expected_next": definite(next_emails, next_verdicts),
    }
    memberships = sum(len(t) for t in tags)
    print(
        f"account: {contacts:,} contacts in {TAGS} tags ({memberships:,} memberships), "
        f"{account['expected_month']:,} definite addresses; {len(moved):,} change address "
        f"for {NEXT_MONTH}"
    )

    server = None if args.pg_url else ThrowawayPostgres()
    workdir = Path(tempfile.mkdtemp(prefix="ac-hygiene-bench-credits."))
    try:
        pg_url = fresh_pg_database(args.pg_url or server.url, "ac_hygiene_bench_credits")
        context = mp.get_context("spawn")
        with ProcessPoolExecutor(WRITERS, mp_context=context, initializer=_warm) as pool:
            list(pool.map(time.sleep, [0.2] * WRITERS))  # every writer started and warm
            pg = stages(pool, pg_url, "postgresql", account)
            lite = stages(pool, f"sqlite:///{workdir / 'ledger.sqlite'}", "sqlite", account)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server is not None:
            server.stop()

    figures = {
        "contacts": contacts,
        "writers": WRITERS,
        "month_charged": pg["month_charged"],
        "expected_month_charged": account["expected_month"],
        "retry_charged": pg["retry_charged"],
        "next_month_charged": pg["next_month_charged"],
        "expected_next_month_charged": account["expected_next"],
        "pg_charges_per_s": pg["charges_per_s"],
        "sqlite_charges_per_s": lite["charges_per_s"],
        "sqlite_month_charged": lite["month_charged"],
        "sqlite_retry_charged": lite["retry_charged"],
        "sqlite_next_month_charged": lite["next_month_charged"],
        "overdraft": max(pg["overdraft"], lite["overdraft"]),
        "lost": max(abs(pg["lost"]), abs(lite["lost"])),
        "stopped_runs": pg["stopped_runs"],
        "sqlite_stopped_runs": lite["stopped_runs"],
    }
    exact = (
        figures["month_charged"] == figures["sqlite_month_charged"] == account["expected_month"]
        and figures["retry_charged"] == figures["sqlite_retry_charged"] == 0
        and figures["next_month_charged"]
        == figures["sqlite_next_month_charged"]
        == account["expected_next"]
    )
    figures["exact"] = exact
    print(
        f"targets: exact figures {'met' if exact else 'MISSED'}; overdraft {figures['overdraft']}; "
        f"PostgreSQL {figures['pg_charges_per_s']:,.0f} charged addresses/s "
        f"({'>=' if figures['pg_charges_per_s'] >= 2000 else '<'} 2,000)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
