"""Benchmark: one month of the pipeline for an account segmented by 10 tags, end to end.

    python benchmarks/pipeline.py --quick     # 5,000 contacts (< 45 s)
    python benchmarks/pipeline.py             # 100,000 contacts (~4 min)

What runs is the product: the connection's monthly sensor plans the month on a persistent SQLite
Dagster instance (the account is at the 100,000-contact threshold, so one run per tag), then the
account-tables run and every segment run execute at once, each in its own worker process (as the
daemon launches each run in its own process), and the monthly report runs once they are done.
The sandbox ActiveCampaign API (its real 5 requests/second limit, 429 beyond it) and the mail
world run in processes of their own.

Concurrency, as in production: the steps that call ActiveCampaign hold the account's lock (the
local side of the `activecampaign-<conn>` pool), so one extraction runs at a time while the
verification and planning of the segments already extracted run beside it. The instance of this
benchmark sets no pool limit: in Dagster 1.13 a step blocked on a pool slot re-polls the instance
in a busy loop (a core per blocked run), which on 2 cores would measure Dagster's wait loop, not
this pipeline; with daemon-launched runs the run queue keeps such runs queued instead.

Figures (the last line printed is one JSON object):
- requests: HTTP requests the sandbox received from the whole month (sensor ticks included);
  min_requests: what the month's data needs at 100 rows a page: every segment's contact pages
  (at least one each) + the contact count + the lists, tags and fields tables.
- rate_floor_s = requests / 5: the least time the 5 req/s allowance permits for the requests made;
  the targets are requests <= 1.1 x min_requests and wall_s <= 1.3 x rate_floor_s.
- rate_utilization = requests / (5 x wall_s); peak_rps: the sandbox's busiest second.
- asset_s: time inside each asset summed over runs (segment_contacts without its lock waits);
  verify_overlap: the share of verification time spent while an extraction was running.
- peak_rss_mb: peak resident memory of the whole process tree (orchestrator, workers, servers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

API_KEY = "bench" + "0123456789abcdef" * 4  # a sandbox key, not a secret
RATE_LIMIT = 5.0
PAGE = 100
CONNECTION = "bench"
URL_ENV, KEY_ENV = "BENCH_AC_API_URL", "BENCH_AC_API_KEY"
INSTANCE_YAML = "telemetry:\n  enabled: false\n"
ENV_PREFIXES = ("AC_", "BENCH_", "DAGSTER_HOME")
PRELOAD = ["dagster", "polars", "ac_hygiene.defs.build", "ac_hygiene.verification"]


def _serve_api(contacts: int, seed: int, tags: int, pipe: Pipe) -> None:
    """Child process: the sandbox ActiveCampaign API until told to stop."""
    from ac_hygiene.sandbox.activecampaign import create_app, generate_account
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

    account = generate_account(contacts, seed=seed, tags=tags)
    app = create_app(account, api_key=API_KEY, rate_limit=RATE_LIMIT)
    with serve_in_thread(app) as url:
        pipe.send({"url": url, "contacts": len(account.contacts)})
        pipe.recv()
        pipe.send(app.state.sandbox.stats.snapshot())


def _serve_mail(pipe: Pipe) -> None:
    """Child process: the default mail world (DNS + SMTP) until told to stop."""
    from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

    world = MailWorld.load(default_world_path())
    with MailWorldServer(world).run_in_thread() as running:
        pipe.send({"dns": f"{running.dns_host}:{running.dns_port}", "smtp": running.smtp_port})
        pipe.recv()
        pipe.send("stopped")


def _definitions(threshold: int) -> Any:
    from ac_hygiene.config import ConnectionsConfig, ConnectionSettings
    from ac_hygiene.defs.build import build_definitions

    settings = ConnectionSettings(
        CONNECTION,
        URL_ENV,
        KEY_ENV,
        segment_by="tag",
        threshold=threshold,
        max_change_share=0.5,  # the generated account is ~20% dirty by design (guardrail: 20%)
    )
    return build_definitions(ConnectionsConfig((settings,), source="benchmark"))


def _run_in_worker(
    env: dict[str, str], threshold: int, job_name: str, partition_key: str | None, tags: dict
) -> dict:
    """Worker process: one run of the month, on the shared instance in $DAGSTER_HOME.

    Workers fork from a server process started before the sandbox's address was known, so the
    environment a deployment would set is handed over explicitly.
    """
    os.environ.update(env)
    import dagster as dg

    from ac_hygiene.defs.local_runs import execute
    from ac_hygiene.defs.partitions import MONTH, SEGMENT

    key: Any = partition_key
    if partition_key and "|" in partition_key:
        month, segment = partition_key.split("|")
        key = dg.MultiPartitionKey({MONTH: month, SEGMENT: segment})
    request = dg.RunRequest(job_name=job_name, partition_key=key, tags=tags)
    try:
        with dg.DagsterInstance.get() as instance:
            result = execute(_definitions(threshold), instance, request, run_config={})
            return {"run_id": result.run_id, "success": result.success, "key": partition_key}
    except Exception as exc:  # exceptions of Dagster do not all survive pickling: send text
        return {"run_id": None, "success": False, "key": partition_key, "error": repr(exc)}


class RssSampler(threading.Thread):
    """Peak resident memory of this process and all its descendants."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._done.wait(0.25):
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def stop(self) -> float:
        self._done.set()
        self.join(2)
        return self.peak_mb


def _step_spans(instance: Any, run_ids: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """(start, end) of every successful step: asset name -> run partition (or run id) -> span."""
    import dagster as dg

    spans: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        where = run.tags.get("dagster/partition", run_id)
        starts: dict[str, float] = {}
        for entry in instance.all_logs(
            run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
        ):
            step = entry.step_key or ""
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                starts[step] = entry.timestamp
            elif step in starts:
                asset = step.removeprefix(f"{CONNECTION}__")
                spans[asset][where] = (starts[step], entry.timestamp)
    return spans


def _overlap(spans: list[tuple[float, float]], others: list[tuple[float, float]]) -> float:
    """Seconds of `spans` during which at least one of `others` was running."""
    merged: list[list[float]] = []
    for start, end in sorted(others):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    total = 0.0
    for start, end in spans:
        for other_start, other_end in merged:
            total += max(0.0, min(end, other_end) - max(start, other_start))
    return total


def _materialized(instance: Any, asset: str, key: str) -> dict[str, Any]:
    """Metadata of the latest materialization of one partition."""
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([CONNECTION, asset]), asset_partitions=[key]),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    metadata = records[0].asset_materialization.metadata
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def _latest(instance: Any, asset: str) -> dict[str, Any]:
    """Metadata of the latest materialization of an unpartitioned asset."""
    import dagster as dg

    event = instance.get_latest_materialization_event(dg.AssetKey([CONNECTION, asset]))
    if event is None or event.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 contacts instead of 100,000")
    parser.add_argument("--contacts", type=int, help="account size (overrides --quick)")
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the instance and tables")
    parser.add_argument(
        "--workers",
        type=int,
        default=3,
        help="runs in flight at once (one extracting, one verifying, one starting up)",
    )
    args = parser.parse_args()
    contacts = args.contacts or (5_000 if args.quick else 100_000)
    threshold = min(contacts, 100_000)  # at the threshold: one run per tag

    tmp = Path(tempfile.mkdtemp(prefix="ac-pipeline-bench-"))
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            "AC_HYGIENE_DATA_DIR": str(tmp / "data"),
            "AC_ALLOW_LOOPBACK": "1",  # this benchmark talks to its own loopback sandbox
        }
    )
    for name in ("AC_HYGIENE_TABLES", "AC_HYGIENE_LEDGER_URL"):
        os.environ.pop(name, None)

    sampler = RssSampler()
    sampler.start()
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    api_pipe, api_child = ctx.Pipe()
    mail_pipe, mail_child = ctx.Pipe()
    print(f"generating a sandbox account of {contacts:,} contacts, {args.tags} tags...", flush=True)
    api = ctx.Process(target=_serve_api, args=(contacts, args.seed, args.tags, api_child))
    mail = ctx.Process(target=_serve_mail, args=(mail_child,))
    api.start()
    mail.start()
    served, world = api_pipe.recv(), mail_pipe.recv()
    os.environ.update(
        {
            URL_ENV: served["url"],
            KEY_ENV: API_KEY,
            "AC_HYGIENE_DNS": world["dns"],
            "AC_HYGIENE_SMTP_PORT": str(world["smtp"]),
        }
    )
    print(f"sandbox API {served['url']} (5 req/s); mail world DNS {world['dns']}", flush=True)

    import dagster as dg

    from ac_hygiene.defs.connection import account_job_name, report_job_name, segment_job_name
    from ac_hygiene.defs.local_runs import execute, segment_of, tick

    defs = _definitions(threshold)
    workers = ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx)
    # Warm the worker processes (forked from the preloaded server) before the clock starts.
    list(workers.map(abs, range(args.workers)))
    try:
        with dg.DagsterInstance.get() as instance:
            started = time.perf_counter()
            first = tick(defs, instance, CONNECTION)
            segments = [segment_of(r) for r in first.of_job(segment_job_name(CONNECTION))]
            print(
                f"sensor: {len(segments)} segment runs planned: {', '.join(segments)}", flush=True
            )
            requests = first.of_job(account_job_name(CONNECTION)) + first.of_job(
                segment_job_name(CONNECTION)
            )
            futures = [
                workers.submit(
                    _run_in_worker,
                    {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)},
                    threshold,
                    str(r.job_name),
                    str(r.partition_key) if r.partition_key else None,
                    dict(r.tags),
                )
                for r in requests
            ]
            runs = []
            for future in futures:
                outcome = future.result()
                runs.append(outcome)
                state = "ok" if outcome["success"] else f"FAILED {outcome.get('error', '')}"
                print(f"  run {outcome['key'] or 'account tables'}: {state}", flush=True)
            second = tick(defs, instance, CONNECTION, first.cursor)
            for request in second.of_job(report_job_name(CONNECTION)):
                report = execute(defs, instance, request, run_config={})
                runs.append({"run_id": report.run_id, "success": report.success, "key": "report"})
            wall = time.perf_counter() - started

            spans = _step_spans(instance, [r["run_id"] for r in runs if r["run_id"]])
            month = str(first.requests[0].tags["ac_hygiene/month"])
            extracted = {
                s: _materialized(instance, "segment_contacts", f"{month}|{s}") for s in segments
            }
            report_meta = _materialized(instance, "hygiene_report", month)
            table_waits = {
                name: _latest(instance, name).get("account_lock_wait_seconds", 0.0)
                for name in ("lists", "tags", "fields")
            }
    finally:
        workers.shutdown()
        api_pipe.send("stop")
        stats = api_pipe.recv()
        mail_pipe.send("stop")
        mail_pipe.recv()
        api.join(10)
        mail.join(10)
    peak_mb = sampler.stop()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [r for r in runs if not r["success"]]
    lock_wait = sum(m.get("account_lock_wait_seconds", 0.0) for m in extracted.values())
    asset_s = {
        name: sum(end - start for start, end in by_run.values())
        for name, by_run in sorted(spans.items())
    }
    if "segment_contacts" in asset_s:
        asset_s["segment_contacts"] -= lock_wait
    for name, waited in table_waits.items():
        if name in asset_s:
            asset_s[name] -= waited
    # An extraction ends its step and lasted `extract_seconds` (the lock wait came before it).
    extracting = [
        (end - extracted[key.split("|")[1]].get("extract_seconds", 0.0), end)
        for key, (_, end) in spans.get("segment_contacts", {}).items()
    ]
    segment_rows = {s: int(m.get("contacts", 0)) for s, m in extracted.items()}
    min_requests = sum(max(1, math.ceil(n / PAGE)) for n in segment_rows.values()) + 1 + 3
    requests_made = int(stats["requests_total"])
    rate_floor = requests_made / RATE_LIMIT
    verify_spans = list(spans.get("verifications", {}).values())
    verify_total = sum(end - start for start, end in verify_spans) or 1e-9
    figures = {
        "contacts": contacts,
        "segments": len(segments),
        "segment_contacts": sum(segment_rows.values()),
        "distinct_contacts": report_meta.get("distinct_contacts"),
        "credits_used": report_meta.get("credits_used"),
        "runs_failed": len(failed),
        "wall_s": round(wall, 2),
        "requests": requests_made,
        "min_requests": min_requests,
        "requests_over_min": round(requests_made / min_requests, 3),
        "rate_floor_s": round(rate_floor, 2),
        "wall_over_floor": round(wall / rate_floor, 3),
        "rate_utilization": round(requests_made / (RATE_LIMIT * wall), 3),
        "http_429": int(stats["rate_limited_429"]),
        "peak_rps": stats["peak_requests_per_second"],
        "requests_by_endpoint": stats["requests"],
        "asset_s": {k: round(v, 2) for k, v in asset_s.items()},
        "verify_overlap": round(_overlap(verify_spans, extracting) / verify_total, 3),
        "peak_rss_mb": round(peak_mb, 1),
    }
    print()
    print(f"month of {contacts:,} contacts in {len(segments)} tag segments: {wall:.1f} s")
    print(
        f"ActiveCampaign requests: {requests_made:,} made, {min_requests:,} needed at minimum "
        f"({figures['requests_over_min']}x); floor at 5 req/s {rate_floor:.1f} s "
        f"(wall {figures['wall_over_floor']}x), rate utilization {figures['rate_utilization']}"
    )
    for name, seconds in figures["asset_s"].items():
        print(f"  {name:<18} {seconds:8.1f} s (summed over runs)")
    print(f"verification time overlapping an extraction: {figures['verify_overlap']:.0%}")
    print(f"peak RSS of the process tree: {peak_mb:,.0f} MB")
    if failed:
        print(f"FAILED runs: {failed}", file=sys.stderr)
    print(json.dumps(figures))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
