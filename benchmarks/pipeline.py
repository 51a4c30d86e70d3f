"""Benchmark: one month of a segmented account on the real production path, end to end.

    python benchmarks/pipeline.py --quick              # 20,000 contacts
    python benchmarks/pipeline.py                      # 100,000 contacts
    python benchmarks/pipeline.py --pg-url postgresql://user@127.0.0.1:5432/db

What runs is what users run: a Dagster home with the project's dagster.yaml (the queued run
coordinator with the per-account ActiveCampaign limit, run retries), `dagster-daemon run` on the
project's code location, and the connection's monthly sensor switched on with `dagster sensor
start`. Nothing is launched by this script: the sensor plans the month (account tables, the
account snapshot, then one run per tag plus `untagged`: the account has 10 overlapping tags and
sits at the 100,000-contact threshold), the daemon queues and launches the runs, and the report
refreshes itself through declarative automation. The clock runs from the daemon's start to the
report that follows the last segment's plan. The sandbox ActiveCampaign API (its real 5 req/s
limit, 429 beyond it) and the mail world run in processes of their own. SQLite home by default;
PostgreSQL run/event storage (and credits ledger) with --pg-url: in a database of its own, created
on that server for the run and dropped after it.

Figures (the last line printed is one JSON object):
- coverage: distinct contacts in the month's clean plans / contacts of the account (target 1.0);
- requests: HTTP requests the sandbox received; min_requests = ceil(contacts / 100) contact pages
  + the lists, tags and fields tables (target requests <= 1.05 x min_requests);
- rate_floor_s = requests / 5, the least time 5 req/s allows (target wall_s <= 1.3 x rate_floor_s);
- warmup_*: the snapshot's cache warm-up (addresses verified during the read, left to the
  segment runs, seconds the snapshot waited for it after its last page);
- asset_s: time inside each asset, summed over runs;
- daemon_cpu_s: CPU of the daemon and its code server over the month; daemon_cpu_while_queued_s
  and queued_s: the same while at least one run sat in the queue (nothing may spin while it waits);
- peak_rss_mb: peak resident memory of the whole process tree (target < 1,500 MB at 100,000);
  peak_pss_mb: the same with shared pages counted once (what the tree really takes);
  product_peak_rss_mb: the daemon and the processes it starts, without this script and the
  sandbox servers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench" + "0123456789abcdef" * 4  # a sandbox key, not a secret
RATE_LIMIT = 5.0
PAGE = 100
CONNECTION = "bench"
URL_ENV, KEY_ENV = "BENCH_AC_API_URL", "BENCH_AC_API_KEY"
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")
PRODUCT_EXCLUDES = ("benchmark", "sandbox_servers")  # roles of the harness, not of the product


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


class TreeSampler(threading.Thread):
    """Peak resident memory of this process tree, and CPU of the daemon and its code server."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        # RSS counts a page shared by several processes once per process (the libraries every
        # Python process maps, the pages a forked run shares with its template); PSS divides it
        # among them, so the sum of PSS is the memory the tree really takes.
        self.peak_pss_mb = 0.0
        # The product alone: the daemon and everything it starts (code server, run template,
        # runs), without this script and the sandbox servers that stand in for the outside world.
        self.product_peak_mb = 0.0
        self.peak_by_role_mb: dict[str, float] = {}
        self.daemon_pid: int | None = None
        self.queued = False  # set by the main loop: some run is waiting in the queue
        self.service_cpu_s = 0.0
        self.service_cpu_queued_s = 0.0
        self.queued_s = 0.0
        self._cpu: dict[int, float] = {}
        self._done = threading.Event()

    def _services(self, procs: list[Any]) -> list[Any]:
        """The daemon and its code server(s), not the run workers."""
        out = []
        for proc in procs:
            with contextlib.suppress(Exception):
                line = " ".join(proc.cmdline())
                if proc.pid == self.daemon_pid or " api grpc" in line:
                    out.append(proc)
        return out

    def _role(self, proc: Any, me: int) -> str:
        """What a process of the tree is, for the memory breakdown at the peak."""
        if proc.pid == me:
            return "benchmark"
        if proc.pid == self.daemon_pid:
            return "daemon"
        line = " ".join(proc.cmdline())
        if " api grpc" in line:
            return "code_server"
        under_daemon = self.daemon_pid in {p.pid for p in proc.parents()}
        if "multiprocessing.forkserver" in line and under_daemon:
            # the launcher's pre-imported template (run_launcher.py), or a run forked from it
            parent = proc.parent()
            forked = parent is not None and "multiprocessing.forkserver" in " ".join(
                parent.cmdline()
            )
            return "run_workers" if forked else "run_template"
        if "multiprocessing" in line and under_daemon:
            return "run_workers"
        return "sandbox_servers"

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        last = time.monotonic()
        while not self._done.wait(0.5):
            now = time.monotonic()
            procs = [me, *me.children(recursive=True)]
            total = pss = 0
            by_role: dict[str, float] = defaultdict(float)
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    total += rss
                    by_role[self._role(proc, me.pid)] += rss / 2**20
                    pss += proc.memory_full_info().pss
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self.peak_pss_mb = max(self.peak_pss_mb, pss / 2**20)
            product = sum(v for k, v in by_role.items() if k not in PRODUCT_EXCLUDES)
            self.product_peak_mb = max(self.product_peak_mb, product)
            if total / 2**20 >= self.peak_mb:
                self.peak_by_role_mb = {k: round(v, 1) for k, v in sorted(by_role.items())}
            delta = 0.0
            for proc in self._services(procs):
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    used = times.user + times.system
                    delta += used - self._cpu.get(proc.pid, used)
                    self._cpu[proc.pid] = used
            self.service_cpu_s += delta
            if self.queued:
                self.service_cpu_queued_s += delta
                self.queued_s += now - last
            last = now

    def stop(self) -> None:
        self._done.set()
        self.join(2)


def _psycopg2(url: str) -> str:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres installs psycopg2.
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _database(url: str, name: str | None, create: bool) -> str:
    """Create (or drop) database `name` on the server of `url`; returns the URL that names it.

    Each run of the benchmark gets a database of its own: runs left by an earlier run in the same
    database (same run keys, same month) would make the month look finished before it started.
    """
    import sqlalchemy as sa

    server = sa.make_url(_psycopg2(url))
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if create:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()
    return (
        server.set(database=name)
        .render_as_string(hide_password=False)
        .replace("postgresql+psycopg2://", "postgresql://", 1)
    )


def _instance_yaml(pg_url: str | None) -> str:
    """The project's dagster.yaml, on PostgreSQL storage when a URL is given."""
    text = (ROOT / "dagster.yaml").read_text()
    if pg_url:
        url = _psycopg2(pg_url)
        text += f"\nstorage:\n  postgres:\n    postgres_url: {json.dumps(url)}\n"
    return text


def _step_spans(instance: Any, runs: list[Any]) -> dict[str, list[tuple[float, float]]]:
    """(start, end) of every successful step, by asset name."""
    import dagster as dg

    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        starts: dict[str, float] = {}
        for entry in instance.all_logs(
            run.run_id,
            of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS},
        ):
            step = entry.step_key or ""
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                starts[step] = entry.timestamp
            elif step in starts:
                spans[step.removeprefix(f"{CONNECTION}__")].append((starts[step], entry.timestamp))
    return spans


def _latest(instance: Any, asset: str, partition: str) -> Any:
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([CONNECTION, asset]), asset_partitions=[partition]
        ),
        limit=1,
    ).records
    return records[0] if records else None


def _metadata(record: Any) -> dict[str, Any]:
    if record is None or record.asset_materialization is None:
        return {}
    return {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}


def _month_done(instance: Any, month: str) -> tuple[bool, list[Any]]:
    """Every run ended, the segments planned and run, and a report newer than the last plan."""
    runs = list(instance.get_runs())
    if any(r.status.value not in TERMINAL for r in runs):
        return False, runs
    segment_runs = [r for r in runs if r.job_name == f"{CONNECTION}__segment_job"]
    if not segment_runs:
        return False, runs
    last_plan = 0.0
    for run in segment_runs:
        key = run.tags.get("dagster/partition", "")
        record = _latest(instance, "clean_plan", key)
        if record is not None:
            last_plan = max(last_plan, record.timestamp)
    report = _latest(instance, "hygiene_report", month)
    return report is not None and report.timestamp >= last_plan, runs


def _stop(process: subprocess.Popen) -> None:
    """Stop the daemon we started (and its code server, in its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 contacts instead of 100,000")
    parser.add_argument("--contacts", type=int, help="account size (overrides --quick)")
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--pg-url", help="PostgreSQL URL for the Dagster storage and the ledger")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the home, tables and logs")
    args = parser.parse_args()
    contacts = args.contacts or (20_000 if args.quick else 100_000)
    threshold = min(contacts, 100_000)  # at the threshold: one run per tag, plus `untagged`

    tmp = Path(tempfile.mkdtemp(prefix="ac-pipeline-bench-"))
    pg_database = f"ac_pipeline_bench_{tmp.name.rsplit('-', 1)[-1].lower()}"
    server_url = args.pg_url
    if server_url:
        args.pg_url = _database(server_url, pg_database, create=True)
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml(args.pg_url))
    (tmp / "connections.yaml").write_text(
        f"connections:\n  - name: {CONNECTION}\n    api_url_env: {URL_ENV}\n"
        f"    api_key_env: {KEY_ENV}\n    segment_by: tag\n    threshold: {threshold}\n"
        # the generated account is ~20% dirty by design (the change-share guardrail: 20%)
        "    max_change_share: 0.5\n"
    )
    shutil.copy(ROOT / "workspace.yaml", tmp / "workspace.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AC_HYGIENE_", "DAGSTER_"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "AC_HYGIENE_CONNECTIONS": str(tmp / "connections.yaml"),
            "AC_HYGIENE_DATA_DIR": str(tmp / "data"),
            "AC_ALLOW_LOOPBACK": "1",  # this benchmark talks to its own loopback sandbox
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    if args.pg_url:
        env["AC_HYGIENE_LEDGER_URL"] = args.pg_url

    sampler = TreeSampler()
    sampler.start()
    ctx = mp.get_context("forkserver")
    api_pipe, api_child = ctx.Pipe()
    mail_pipe, mail_child = ctx.Pipe()
    print(f"generating a sandbox account of {contacts:,} contacts, {args.tags} tags...", flush=True)
    api = ctx.Process(target=_serve_api, args=(contacts, args.seed, args.tags, api_child))
    mail = ctx.Process(target=_serve_mail, args=(mail_child,))
    api.start()
    mail.start()
    served, world = api_pipe.recv(), mail_pipe.recv()
    env.update(
        {
            URL_ENV: served["url"],
            KEY_ENV: API_KEY,
            "AC_HYGIENE_DNS": world["dns"],
            "AC_HYGIENE_SMTP_PORT": str(world["smtp"]),
        }
    )
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "AC_HYGIENE_DATA_DIR")})
    print(f"sandbox API {served['url']} (5 req/s); mail world DNS {world['dns']}", flush=True)

    bin_dir = Path(sys.executable).parent
    switched = subprocess.run(
        [
            *(str(bin_dir / "dagster"), "sensor", "start", f"{CONNECTION}__monthly_plan"),
            *("-w", "workspace.yaml"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
    )
    if switched.returncode != 0:
        for pipe in (api_pipe, mail_pipe):
            pipe.send("stop")
            pipe.recv()
        sys.exit(f"could not switch the sensor on: {switched.stderr.strip()[-2000:]}")
    print(
        "monthly sensor switched on; starting dagster-daemon (queued run coordinator)", flush=True
    )

    import dagster as dg

    from ac_hygiene.defs.partitions import current_month

    month = current_month()
    log_path = tmp / "daemon.log"
    with log_path.open("w") as log:
        started = time.perf_counter()
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sampler.daemon_pid = daemon.pid
    done = False
    seen: dict[str, str] = {}
    launcher_name = "run launcher unknown"
    try:
        with dg.DagsterInstance.get() as instance:
            launcher_name = type(instance.run_launcher).__name__
            while time.perf_counter() - started < args.timeout:
                if daemon.poll() is not None:
                    break
                done, runs = _month_done(instance, month)
                sampler.queued = any(r.status == dg.DagsterRunStatus.QUEUED for r in runs)
                for run in runs:
                    what = run.tags.get("dagster/partition") or run.job_name
                    if seen.get(run.run_id) != run.status.value:
                        seen[run.run_id] = run.status.value
                        if run.status.value in ("STARTED", *TERMINAL):
                            print(f"  {time.perf_counter() - started:6.1f} s  {what}: "
                                  f"{run.status.value.lower()}", flush=True)  # fmt: skip
                if done:
                    break
                time.sleep(1.0)
            wall = time.perf_counter() - started
            runs = list(instance.get_runs())
            spans = _step_spans(instance, runs)
            segments = sorted(
                r.tags["dagster/partition"].split("|")[1]
                for r in runs
                if r.job_name == f"{CONNECTION}__segment_job" and r.status.value == "SUCCESS"
            )
            report = _metadata(_latest(instance, "hygiene_report", month))
            snapshot = _metadata(_latest(instance, "account_snapshot", month))
            untagged_tags = {
                r.run_id: r.tags.get("ac_hygiene/connection") == CONNECTION for r in runs
            }
    finally:
        _stop(daemon)
        api_pipe.send("stop")
        stats = api_pipe.recv()
        mail_pipe.send("stop")
        mail_pipe.recv()
        api.join(10)
        mail.join(10)
        sampler.stop()

    import polars as pl

    plans = [
        pl.read_parquet(
            tmp / "data" / "tables" / CONNECTION / "clean_plan" / month / f"{s}.parquet"
        )
        for s in segments
    ]
    distinct = pl.concat([p.select("contact_id") for p in plans]).n_unique() if plans else 0
    failed = [r.run_id for r in runs if r.status.value != "SUCCESS"]
    requests_made = int(stats["requests_total"])
    min_requests = math.ceil(contacts / PAGE) + 3
    rate_floor = requests_made / RATE_LIMIT
    asset_s = {name: round(sum(e - s for s, e in v), 2) for name, v in sorted(spans.items())}
    launcher = (
        f"dagster-daemon, queued run coordinator, {launcher_name}, "
        f"{'PostgreSQL' if args.pg_url else 'SQLite'}"
    )
    figures = {
        "contacts": contacts,
        "coverage": round(distinct / contacts, 4),
        "wall_s": round(wall, 2),
        "requests": requests_made,
        "min_requests": min_requests,
        "rate_floor_s": round(rate_floor, 2),
        "peak_rss_mb": round(sampler.peak_mb, 1),
        "launcher": launcher,
        "peak_rss_by_role_mb": sampler.peak_by_role_mb,
        "peak_pss_mb": round(sampler.peak_pss_mb, 1),
        "product_peak_rss_mb": round(sampler.product_peak_mb, 1),
        "completed": done,
        "segments": len(segments),
        "runs": len(runs),
        "runs_not_successful": len(failed),
        "runs_without_connection_tag": sum(not ok for ok in untagged_tags.values()),
        "requests_over_min": round(requests_made / min_requests, 3),
        "wall_over_floor": round(wall / max(rate_floor, 1e-9), 3),
        "http_429": int(stats["rate_limited_429"]),
        "peak_rps": stats["peak_requests_per_second"],
        "snapshot_pages": snapshot.get("pages"),
        # The snapshot's cache warm-up: addresses verified while the account was read, those left
        # to the segment runs, and how long the snapshot waited for it after its last page.
        "warmup_state": snapshot.get("warmup_state"),
        "warmup_verified": snapshot.get("warmup_verified_now"),
        "warmup_left_to_segments": snapshot.get("warmup_left_to_segments"),
        "warmup_drain_s": snapshot.get("warmup_drain_seconds"),
        "distinct_contacts_report": report.get("distinct_contacts"),
        "credits_used": report.get("credits_used"),
        "asset_s": asset_s,
        "daemon_cpu_s": round(sampler.service_cpu_s, 2),
        "daemon_cpu_while_queued_s": round(sampler.service_cpu_queued_s, 2),
        "queued_s": round(sampler.queued_s, 2),
    }
    print()
    print(f"month of {contacts:,} contacts in {len(segments)} segments: {wall:.1f} s ({launcher})")
    print(f"coverage: {distinct:,} of {contacts:,} contacts verified ({figures['coverage']:.4f})")
    print(
        f"ActiveCampaign requests: {requests_made:,} made, {min_requests:,} at minimum "
        f"({figures['requests_over_min']}x); rate floor {rate_floor:.1f} s, wall "
        f"{figures['wall_over_floor']}x the floor; {figures['http_429']} answered 429"
    )
    for name, seconds in asset_s.items():
        print(f"  {name:<18} {seconds:8.1f} s (summed over runs)")
    print(
        f"daemon + code server CPU: {sampler.service_cpu_s:.1f} s over the month, "
        f"{sampler.service_cpu_queued_s:.1f} s during the {sampler.queued_s:.1f} s some run was "
        "queued"
    )
    print(
        f"peak RSS of the process tree: {sampler.peak_mb:,.0f} MB ("
        + ", ".join(f"{k} {v:,.0f}" for k, v in sampler.peak_by_role_mb.items())
        + f"); peak PSS (shared pages counted once): {sampler.peak_pss_mb:,.0f} MB; "
        f"the product's processes alone: {sampler.product_peak_mb:,.0f} MB RSS"
    )
    if not done:
        print(f"INCOMPLETE: the month did not finish; daemon log: {log_path}", file=sys.stderr)
    if failed:
        print(f"runs not successful: {failed}", file=sys.stderr)
    if not args.keep and done and not failed:
        shutil.rmtree(tmp, ignore_errors=True)
        if server_url:
            _database(server_url, pg_database, create=False)
    elif not args.keep:
        print(f"kept for inspection: {tmp}", file=sys.stderr)
        if server_url:
            print(f"and the PostgreSQL database {pg_database}", file=sys.stderr)
    print(json.dumps(figures))
    if not done or failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
