"""Benchmark: a full snapshot (contacts + memberships + tags, plus lists and fields) of a sandbox
account served on a real loopback socket with ActiveCampaign's real limit of 5 requests/second.

    python benchmarks/extract.py --quick          # 5,000 contacts, ~12 s
    python benchmarks/extract.py                  # 100,000 contacts, ~3.5 min
    python benchmarks/extract.py --quick --compare   # also the account-wide membership tables

The sandbox runs in a child process (so its memory is not the client's); the client is the
product's own `extract_contacts` with a checkpoint directory, as the Dagster asset runs it.

Figures (the last line printed is one JSON object):
- requests: HTTP requests the client sent (retries included); http_429: 429s it received.
- min_requests: what any client needs for this snapshot: ceil(contacts / 100) contact pages (100 is
  the API's maximum page) plus ceil(rows / 100) pages each of the tags, lists and fields tables.
- floor_s = min_requests / 5: the time the 5 req/s allowance needs for min_requests (no credit for
  the initial burst, so this floor is strict); rate_utilization = floor_s / wall_s.
- skipped / duplicated: account contact ids missing from the snapshot / snapshot rows beyond the
  first per id; unexpected: snapshot ids the account does not have.
- peak_rss_mb: the client process's peak resident memory (server_peak_rss_mb: the sandbox's).
- airbyte_requests: what an Airbyte-style connector needs for the contacts alone (offset paging at
  the default 20 per page, no memberships, no tags): ceil(contacts / 20), plus one empty page when
  the count is a multiple of 20.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

API_KEY = "bench" + "0123456789abcdef" * 4  # a sandbox key, not a secret
RATE_LIMIT = 5.0
PAGE = 100


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _serve(contacts: int, seed: int, pipe: Pipe) -> None:
    """Child process: generate the account, serve it until told to stop, report what it saw."""
    from ac_hygiene.sandbox.activecampaign import create_app, generate_account
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

    account = generate_account(contacts, seed=seed)
    app = create_app(account, api_key=API_KEY, rate_limit=RATE_LIMIT)
    with serve_in_thread(app) as url:
        pipe.send(
            {
                "url": url,
                "ids": sorted(account.contacts),
                "lists": len(account.lists),
                "tags": len(account.tags),
                "fields": len(account.fields),
            }
        )
        pipe.recv()  # "stop"
        pipe.send({"stats": app.state.sandbox.stats.snapshot(), "peak_rss_mb": _peak_rss_mb()})


async def _snapshot(
    url: str, rate: float, burst: int, memberships: str, checkpoint_dir: str, total: int
) -> dict[str, Any]:
    from ac_hygiene.activecampaign import (
        ActiveCampaignClient,
        Checkpoint,
        Connection,
        PageProgress,
        checkpoint_key,
        extract_contacts,
        fetch_fields,
        fetch_lists,
        parse_segment,
    )
    from ac_hygiene.activecampaign.aio import gather_all

    connection = Connection.from_raw("bench", url, API_KEY)
    segment = parse_segment("all")
    checkpoint = Checkpoint(
        checkpoint_dir, checkpoint_key(connection.api_url, segment, None, memberships)
    )
    next_report = [0.1]

    def progress(p: PageProgress) -> None:
        if p.contacts >= next_report[0] * total:
            print(f"  {p.contacts:>7,} / {total:,} contacts, {p.pages} pages", flush=True)
            next_report[0] += 0.1

    async with ActiveCampaignClient(connection, rate=rate, burst=burst) as client:
        start = time.perf_counter()
        contacts, lists, fields = await gather_all(
            extract_contacts(
                client, segment, checkpoint=checkpoint, on_page=progress, memberships=memberships
            ),
            fetch_lists(client),
            fetch_fields(client),
        )
        wall = time.perf_counter() - start
    checkpoint.clear()
    return {
        "wall_s": wall,
        "stats": client.stats,
        "ids": contacts["contact_id"].to_list(),
        "lists": lists.height,
        "fields": fields.height,
        "memberships": int(contacts["active_list_ids"].list.len().sum())
        + int(contacts["unsubscribed_list_ids"].list.len().sum()),
        "tag_links": int(contacts["tag_ids"].list.len().sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 contacts instead of 100,000")
    parser.add_argument("--contacts", type=int, help="account size (overrides --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=None, help="client pacing (req/s)")
    parser.add_argument("--burst", type=int, default=None, help="client burst")
    parser.add_argument(
        "--compare", action="store_true", help="also measure memberships from account tables"
    )
    args = parser.parse_args()
    contacts = args.contacts or (5_000 if args.quick else 100_000)

    os.environ["AC_ALLOW_LOOPBACK"] = "1"  # this benchmark talks to its own loopback sandbox
    from ac_hygiene.activecampaign.limiter import DEFAULT_BURST, DEFAULT_RATE

    rate = args.rate or DEFAULT_RATE
    burst = args.burst or DEFAULT_BURST

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(contacts, args.seed, child), daemon=True)
    print(f"generating a sandbox account of {contacts:,} contacts (server process)...", flush=True)
    server.start()
    account = parent.recv()
    url, ids = account["url"], account["ids"]
    print(f"serving on {url}; client paces at {rate} req/s, burst {burst}", flush=True)

    modes = ["sideload", "tables"] if args.compare else ["sideload"]
    runs: dict[str, dict[str, Any]] = {}
    try:
        for mode in modes:
            print(f"snapshot with memberships={mode}:", flush=True)
            with tempfile.TemporaryDirectory(prefix="ac-extract-bench-") as tmp:
                runs[mode] = asyncio.run(_snapshot(url, rate, burst, mode, tmp, len(ids)))
            if mode != modes[-1]:
                time.sleep(1.0)  # let the server's bucket refill between runs
    finally:
        parent.send("stop")
        served = parent.recv()
        server.join(10)

    run = runs["sideload"]
    stats = run["stats"]
    snapshot_ids = run["ids"]
    account_ids = set(ids)
    snapshot_set = set(snapshot_ids)
    min_requests = (
        math.ceil(len(ids) / PAGE)
        + max(1, math.ceil(account["tags"] / PAGE))
        + max(1, math.ceil(account["lists"] / PAGE))
        + max(1, math.ceil(account["fields"] / PAGE))
    )
    floor_s = min_requests / RATE_LIMIT
    airbyte = len(ids) // 20 + 1 if len(ids) % 20 == 0 else math.ceil(len(ids) / 20)
    figures: dict[str, Any] = {
        "contacts": len(ids),
        "requests": stats.requests,
        "min_requests": min_requests,
        "http_429": stats.http_429,
        "retries": stats.retries,
        "wall_s": round(run["wall_s"], 2),
        "floor_s": round(floor_s, 2),
        "rate_utilization": round(floor_s / run["wall_s"], 3),
        "skipped": len(account_ids - snapshot_set),
        "duplicated": len(snapshot_ids) - len(snapshot_set),
        "unexpected": len(snapshot_set - account_ids),
        "memberships": run["memberships"],
        "tag_links": run["tag_links"],
        "mb_received": round(stats.bytes_received / 1e6, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "server_peak_rss_mb": round(served["peak_rss_mb"], 1),
        "server_peak_rps": served["stats"]["peak_requests_per_second"],
        "client_rate": rate,
        "client_burst": burst,
        "airbyte_requests": airbyte,
        "airbyte_floor_s": round(airbyte / RATE_LIMIT, 1),
    }
    if "tables" in runs:
        figures["tables_requests"] = runs["tables"]["stats"].requests
        figures["tables_wall_s"] = round(runs["tables"]["wall_s"], 2)
        figures["tables_http_429"] = runs["tables"]["stats"].http_429

    print()
    print(f"contacts            {figures['contacts']:>10,}")
    print(f"requests            {figures['requests']:>10,}   (minimum {min_requests:,})")
    print(f"429s received       {figures['http_429']:>10,}")
    print(f"wall time           {figures['wall_s']:>10.2f} s")
    print(f"rate-limit floor    {figures['floor_s']:>10.2f} s   (min_requests / 5 req/s)")
    print(f"rate utilization    {figures['rate_utilization']:>10.3f}")
    print(f"skipped/duplicated  {figures['skipped']:>5} / {figures['duplicated']}")
    print(f"peak RSS (client)   {figures['peak_rss_mb']:>10.1f} MB")
    print(
        f"Airbyte-style       {airbyte:>10,} requests for contacts alone (offset, 20 per page, "
        f"no memberships): >= {airbyte / RATE_LIMIT:,.0f} s"
    )
    if "tables" in runs:
        print(
            f"memberships from account tables: {figures['tables_requests']:,} requests, "
            f"{figures['tables_wall_s']:.2f} s (sideloaded: {figures['requests']:,} requests, "
            f"{figures['wall_s']:.2f} s)"
        )
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
