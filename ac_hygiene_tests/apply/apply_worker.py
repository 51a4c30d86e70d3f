"""A separate process that applies a plan, for the kill tests (`python -m ... <args>`).

Arguments: api_url plan.parquet ledger_url backups_dir run_id. The API key comes from the
environment (`AC_TEST_KEY`), never the command line, where a process listing would show it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.hygiene.apply import ApplyOptions, WriteBack, apply_plan
from ac_hygiene.hygiene.journal import ApplyJournal


async def main(url: str, plan_path: str, ledger: str, backups: str, run_id: str) -> None:
    plan = pl.read_parquet(plan_path)
    planned_at = datetime.fromisoformat(os.environ["AC_TEST_PLANNED_AT"])
    tags = {"invalid": "hygiene: invalid"} if os.environ.get("AC_TEST_TAGS") else {}
    connection = Connection.from_raw("sandbox", url, os.environ["AC_TEST_KEY"])
    async with ActiveCampaignClient(connection, rate=500.0) as client:
        with ApplyJournal(ledger) as journal:
            report = await apply_plan(
                client,
                plan,
                journal=journal,
                connection="acme",
                partition="2026-12|all",
                run_id=run_id,
                backups_dir=Path(backups),
                options=ApplyOptions(
                    lost_import_grace_s=float(os.environ.get("AC_TEST_GRACE", "0.5")),
                    planned_at=planned_at,
                    first_poll_s=0.05,
                    write_back=WriteBack(tags=tags),
                ),
            )
    print(f"unresolved={report.unresolved}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("AC_ALLOW_LOOPBACK", "1")
    asyncio.run(main(*sys.argv[1:6]))
