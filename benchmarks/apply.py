"""Benchmark: apply a clean plan (unsubscribes + deletes, write-back tags on) to a sandbox
account with ActiveCampaign's real limits, then kill an apply at a random request and re-run it.

    python benchmarks/apply.py --quick     # 2,000 unsubscribes + 100 deletes (~40 s)
    python benchmarks/apply.py             # 10,000 unsubscribes + 2,000 deletes (~8 min)

The sandbox API runs in this process (a loopback socket, 5 req/s, bulk imports taking ~3 s as
live); the apply runs in a child process exactly as the library runs inside the asset
(`hygiene.apply.apply_plan`, journal in a SQLite ledger, backups on disk).

Phase 1 (timed): one apply of the whole plan on the rate-limited sandbox.
- requests: every request the sandbox received, per endpoint.
- requests_per_1000_unsubscribes: everything but the deletes' own traffic (the DELETEs and the
  re-reads of the contacts to delete, ceil(deletes / 100)), per 1,000 unsubscribes: re-checks,
  imports, status polls, reconciliation reads. Target ≤ 20. naive_requests_per_1000_unsubscribes:
  one `POST /contactLists` per (contact, list) plus one `POST /contactTags` per contact, which is
  what a client without bulk import sends.
- floor_s = requests / 5 (what the account's 5 req/s allows for those requests);
  wall_s: the apply's own time (process start excluded). Target wall_s ≤ 1.2 × floor_s.
Phase 2 (correctness): a fresh account, the apply killed with SIGKILL right after the server
applied request k (k random in 1..phase-1 requests, the answer lost), then re-run to the end.
journal_exactly_once: every planned delete gone with exactly one DELETE received; every
unsubscribe unsubscribed on exactly its planned lists, tagged, in exactly one import; no other
contact written; every journal row `done`. Checked against the sandbox's final state.
Timing figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

API_KEY = "bench" + "0123456789abcdef" * 4  # a sandbox key, not a secret
RATE_LIMIT = 5.0
LISTS = 5
TAGS = {"invalid": "hygiene: invalid", "disposable": "hygiene: disposable"}


def build(unsubscribes: int, deletes: int, seed: int) -> tuple[Any, Any]:
    """An account where every contact is unique by email, and its plan (the generator's truth)."""
    import polars as pl

    from ac_hygiene.sandbox.activecampaign import SandboxAccount
    from ac_hygiene.schemas import CleanPlan

    rng = random.Random(seed)
    before = int(time.time()) - 86_400
    account = SandboxAccount(name="bench-apply")
    for i in range(LISTS):
        account.add_list(f"List {i + 1}", cdate=before)
    rows = []
    for n in range(unsubscribes + deletes):
        category = "invalid" if n < unsubscribes else "disposable"
        domain = "nomailbox.example" if category == "invalid" else "throwaway.example"
        contact = account.add_contact(
            f"person{n}.{rng.randrange(10**6)}@{domain}", f"First{n}", f"Last{n}", cdate=before
        )
        lists = sorted(rng.sample(range(1, LISTS + 1), rng.randint(1, 3)))
        for lid in lists:
            account.set_membership(contact.id, lid, 1, now=before)
        rows.append(
            {
                "contact_id": contact.id,
                "email": contact.email,
                "category": category,
                "action": "unsubscribe" if category == "invalid" else "delete",
                "list_ids": lists if category == "invalid" else [],
                "reason": "mailbox_not_found" if category == "invalid" else "disposable",
            }
        )
    schema = {
        "contact_id": pl.Int64,
        "email": pl.String,
        "category": pl.String,
        "action": pl.String,
        "list_ids": pl.List(pl.Int64),
        "reason": pl.String,
    }
    return account, CleanPlan.validate(pl.DataFrame(rows, schema=schema))


# -- the child process ------------------------------------------------------------------------


async def _worker(
    url: str, plan_path: str, ledger: str, backups: str, run_id: str, rate: float, out: str
) -> None:
    import polars as pl

    from ac_hygiene.activecampaign.client import ActiveCampaignClient
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.hygiene.apply import ApplyOptions, WriteBack, apply_plan
    from ac_hygiene.hygiene.journal import ApplyJournal

    plan = pl.read_parquet(plan_path)
    connection = Connection.from_raw("bench", url, os.environ["AC_BENCH_KEY"])
    planned_at = datetime.now(UTC) - timedelta(minutes=5)
    async with ActiveCampaignClient(connection, rate=rate) as client:
        with ApplyJournal(ledger) as journal:
            report = await apply_plan(
                client,
                plan,
                journal=journal,
                connection="bench",
                partition="2026-12|all",
                run_id=run_id,
                backups_dir=Path(backups),
                options=ApplyOptions(
                    planned_at=planned_at, write_back=WriteBack(tags=TAGS), lost_import_grace_s=1.0
                ),
                progress=lambda _: None,
            )
    Path(out).write_text(
        json.dumps(
            {
                "wall_s": report.wall_s,
                "unresolved": report.unresolved,
                "requests": dict(report.requests),
            }
        )
    )


def _spawn(url: str, plan: Path, ledger: str, tmp: Path, run_id: str, rate: float) -> tuple:
    out = tmp / f"{run_id}.json"
    env = {**os.environ, "AC_BENCH_KEY": API_KEY, "AC_ALLOW_LOOPBACK": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            url,
            str(plan),
            ledger,
            str(tmp / "backups"),
            run_id,
            str(rate),
            str(out),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, out


# -- phases -----------------------------------------------------------------------------------


def timed_run(unsubscribes: int, deletes: int, seed: int, tmp: Path) -> dict[str, Any]:
    from ac_hygiene.activecampaign.limiter import DEFAULT_RATE
    from ac_hygiene.sandbox.activecampaign import create_app
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

    account, plan = build(unsubscribes, deletes, seed)
    plan.write_parquet(tmp / "plan1.parquet")
    app = create_app(account, api_key=API_KEY, rate_limit=RATE_LIMIT, record_requests=True)
    ledger = f"sqlite:///{tmp / 'l1.sqlite'}"
    with serve_in_thread(app) as url:
        proc, out = _spawn(url, tmp / "plan1.parquet", ledger, tmp, "timed", DEFAULT_RATE)
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"the apply failed: {err[-3000:]}")
    stats = app.state.sandbox.stats.snapshot()
    worker = json.loads(out.read_text())
    total = stats["requests_total"]
    delete_traffic = deletes + math.ceil(deletes / 100)
    lists = plan.filter(plan["action"] == "unsubscribe")["list_ids"].list.len().sum()
    return {
        "requests": total,
        "requests_by_endpoint": stats["requests"],
        "http_429": stats["rate_limited_429"],
        "requests_per_1000_unsubscribes": round((total - delete_traffic) / unsubscribes * 1000, 2),
        "naive_requests_per_1000_unsubscribes": round((lists + unsubscribes) / unsubscribes * 1000),
        "wall_s": round(worker["wall_s"], 2),
        "floor_s": round(total / RATE_LIMIT, 2),
        "wall_over_floor": round(worker["wall_s"] / (total / RATE_LIMIT), 3),
        "unresolved": worker["unresolved"],
        "timed_run_exactly_once": check(account, plan, list(app.state.sandbox.recorded), ledger),
    }


def killed_run(unsubscribes: int, deletes: int, seed: int, tmp: Path, max_k: int) -> dict:
    from ac_hygiene.sandbox.activecampaign import create_app
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

    account, plan = build(unsubscribes, deletes, seed + 1)
    plan.write_parquet(tmp / "plan2.parquet")
    ledger = f"sqlite:///{tmp / 'l2.sqlite'}"
    k = random.Random(seed).randint(1, max(1, max_k - 1))
    app = create_app(
        account, api_key=API_KEY, rate_limit=None, import_delay_s=0.05, record_requests=True
    )
    state = app.state.sandbox
    seen: list[str] = []
    killed = threading.Event()
    box: list[subprocess.Popen] = []

    def hook(method: str, path: str) -> None:
        seen.append(f"{method} {path}")
        if len(seen) == k and box:
            os.kill(box[0].pid, signal.SIGKILL)
            killed.set()

    state.request_hook = hook
    with serve_in_thread(app) as url:
        proc, _ = _spawn(url, tmp / "plan2.parquet", ledger, tmp, "killed", 1000.0)
        box.append(proc)
        proc.communicate(timeout=600)
        state.request_hook = None
        again, out = _spawn(url, tmp / "plan2.parquet", ledger, tmp, "rerun", 1000.0)
        _, err = again.communicate(timeout=600)
        if again.returncode != 0:
            raise SystemExit(f"the re-run failed: {err[-3000:]}")
    ok = killed.is_set() and check(account, plan, list(state.recorded), ledger)
    return {
        "killed_after_request": k,
        "killed_request": seen[k - 1] if len(seen) >= k else None,
        "killed": killed.is_set(),
        "rerun_unresolved": json.loads(out.read_text())["unresolved"],
        "journal_exactly_once": bool(ok),
    }


def check(account: Any, plan: Any, recorded: list, ledger: str | None) -> bool:
    """Every action applied exactly once in the account's final state (module doc)."""
    from ac_hygiene.hygiene.journal import ApplyJournal

    deletes = Counter(int(r.path.rsplit("/", 1)[1]) for r in recorded if r.method == "DELETE")
    imported = Counter(
        c["email"]
        for r in recorded
        if r.path.endswith("/bulk_import")
        for c in r.json_body["contacts"]
    )
    planned_emails = set(plan["email"])
    if set(imported) - planned_emails or any(
        r.method == "POST" and not r.path.endswith("/bulk_import") for r in recorded
    ):
        return False
    tag_ids = {t.id for t in account.tags.values() if t.tag == TAGS["invalid"]}
    for cid, email, action, lists in plan.select(
        "contact_id", "email", "action", "list_ids"
    ).iter_rows():
        if action == "delete":
            if cid in account.contacts or deletes[cid] != 1:
                return False
            continue
        statuses = {m.list: m.status for m in account.memberships_of(cid)}
        if imported[email] != 1 or any(statuses.get(lid) != 2 for lid in lists):
            return False
        if any(s != 2 for s in statuses.values()) or not (
            {t.tag for t in account.tags_of(cid)} & tag_ids
        ):
            return False
    if set(deletes) - set(plan["contact_id"]):
        return False
    if ledger is not None:
        with ApplyJournal(ledger) as journal:
            rows = journal.rows("bench", "2026-12|all")
        if len(rows) != plan.height or {r.state for r in rows} != {"done"}:
            return False
    return True


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, plan, ledger, backups, run_id, rate, out = sys.argv[2:9]
        asyncio.run(_worker(url, plan, ledger, backups, run_id, float(rate), out))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 + 100 instead of 10,000 + 2,000"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    unsubscribes, deletes = (2_000, 100) if args.quick else (10_000, 2_000)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        # Phase 2 is paced by nothing (no rate limit) and phase 1 by the rate limit alone: run
        # side by side (separate sandboxes and accounts) to keep --quick under 45 s.
        estimate = unsubscribes // 100 + 2 * math.ceil(unsubscribes / 250) + deletes * 101 // 100
        box: dict[str, Any] = {}
        side = threading.Thread(
            target=lambda: box.update(
                killed=killed_run(unsubscribes, deletes, args.seed, Path(tmp), estimate)
            )
        )
        side.start()
        timed = timed_run(unsubscribes, deletes, args.seed, Path(tmp))
        side.join()
        if "killed" not in box:
            raise SystemExit("phase 2 failed (see above)")
        killed = box["killed"]
        print(f"phase 1: {unsubscribes:,} unsubscribes + {deletes:,} deletes (tags written back)")
        for endpoint, n in timed["requests_by_endpoint"].items():
            print(f"  {endpoint:40s} {n:6,}")
        print(
            f"  {timed['requests']:,} requests, {timed['requests_per_1000_unsubscribes']} per "
            f"1,000 unsubscribes (naive: {timed['naive_requests_per_1000_unsubscribes']:,}); "
            f"wall {timed['wall_s']} s against a {timed['floor_s']} s floor "
            f"({timed['wall_over_floor']}×); 429s: {timed['http_429']}"
        )
        print(
            f"phase 2: killed (SIGKILL) after request {killed['killed_after_request']} "
            f"({killed['killed_request']}), re-run: exactly once = "
            f"{killed['journal_exactly_once']}"
        )
    figures = {
        "unsubscribes": unsubscribes,
        "deletes": deletes,
        **timed,
        **killed,
        "bench_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
