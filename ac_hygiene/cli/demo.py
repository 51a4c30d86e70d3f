"""`ac-hygiene demo`: the whole product on one machine, on loopback, in well under a minute.

It starts the sandbox ActiveCampaign API (a generated account, fixed seed, a demo key made for
this run) and the sandbox mail world, points the built-in `demo` connection at them through the
same environment variables a real deployment uses, and lets the real monthly sensor plan the month
on the persistent Dagster instance (`$DAGSTER_HOME`, by default `data/dagster_home`): segments
are registered, the account tables, the segment run(s) and the monthly report are materialized,
and a summary says what was found and where to look next (`./dev ui`).

Run it twice: the second run reuses the verification cache and charges no credit twice.
Only one demo runs at a time (a lock under the data directory); runs a killed demo left
"started" are marked failed and their pool slots freed before the next one starts.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from ac_hygiene.config import DEMO_CONNECTION, DEMO_KEY_ENV, DEMO_URL_ENV

DEFAULT_CONTACTS = 2_000
DEFAULT_SEED = 42
UI_URL = "http://127.0.0.1:3000"

_INSTANCE_YAML = """\
# Written by `ac-hygiene demo` (no dagster.yaml was found to link): SQLite under this directory.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
    granularity: op
"""


def _unusable(what: str, path: Path, error: OSError, fix: str) -> click.ClickException:
    reason = error.strerror or str(error)
    return click.ClickException(f"cannot use {path} as {what} ({reason}); {fix}")


def dagster_home(data_dir: Path) -> Path:
    """`$DAGSTER_HOME`, else `<data dir>/dagster_home` (set for this process either way)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").absolute()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(
            "the Dagster home", home, exc, "set DAGSTER_HOME to a writable directory or unset it"
        ) from None
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def ensure_instance_config(home: Path, project_yaml: Path) -> str:
    """Make `$DAGSTER_HOME/dagster.yaml` the project's instance configuration.

    `dagster dev` (./dev ui) reads it from the Dagster home, so the demo links the top-level
    dagster.yaml there; an existing file is left alone (it may be a deliberate PostgreSQL set-up).
    """
    target = home / "dagster.yaml"
    if target.exists() or target.is_symlink():
        return f"{target} (kept)"
    if project_yaml.is_file():
        try:
            target.symlink_to(project_yaml.absolute())
            return f"{target} -> {project_yaml.absolute()}"
        except OSError:
            shutil.copyfile(project_yaml, target)
            return f"{target} (copied from {project_yaml})"
    target.write_text(_INSTANCE_YAML)
    return f"{target} (default written)"


@contextmanager
def single_demo(data_dir: Path) -> Iterator[None]:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / "demo.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unusable(
            "the data directory",
            data_dir,
            exc,
            "pass a writable directory with --data-dir (or set AC_HYGIENE_DATA_DIR)",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException(
                f"another `ac-hygiene demo` is running on {data_dir}; wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def recover_stale_runs(instance: Any) -> int:
    """Runs of a killed demo stay "started" forever and may hold a pool slot: close them."""
    import dagster as dg

    from ac_hygiene.defs.tags import DEMO_TAG

    stale = instance.get_runs(
        filters=dg.RunsFilter(
            tags={DEMO_TAG: "true"},
            statuses=[
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.NOT_STARTED,
            ],
        )
    )
    for run in stale:
        instance.report_run_failed(run, "The demo that started this run was stopped.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return len(stale)


def _say(message: str) -> None:
    click.echo(f"==> {message}", err=True)


def _metadata(result: Any, node: str) -> dict[str, Any]:
    materializations = result.asset_materializations_for_node(node)
    if not materializations:
        return {}
    return {k: getattr(v, "value", v) for k, v in materializations[-1].metadata.items()}


def _check_failures(result: Any) -> list[str]:
    return [
        f"{e.asset_key.to_user_string()} {e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]


def run_demo(contacts: int, seed: int, data_dir: Path, project_yaml: Path) -> dict[str, Any]:
    """The demo proper; returns the figures the summary prints."""
    import dagster as dg

    from ac_hygiene.activecampaign.api_key import ApiKey
    from ac_hygiene.config import demo_connections
    from ac_hygiene.defs.build import build_definitions
    from ac_hygiene.defs.local_runs import run_month
    from ac_hygiene.defs.tags import DEMO_TAG
    from ac_hygiene.sandbox.activecampaign import create_app, generate_account
    from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
    from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

    home = dagster_home(data_dir)
    linked = ensure_instance_config(home, project_yaml)
    api_key = secrets.token_hex(32)
    started = time.monotonic()
    with ExitStack() as stack:
        _say(f"generating a sandbox ActiveCampaign account: {contacts:,} contacts (seed {seed})")
        account = generate_account(contacts, seed=seed)
        app = create_app(account, api_key=api_key, rate_limit=5.0)
        base_url = stack.enter_context(serve_in_thread(app))
        world = MailWorld.load(default_world_path())
        mail = stack.enter_context(MailWorldServer(world).run_in_thread())
        _say(
            f"sandbox API on {base_url} (5 requests/s, key {ApiKey(api_key).masked()}); "
            f"mail world DNS on {mail.dns_host}:{mail.dns_port}, SMTP on port {mail.smtp_port}"
        )
        os.environ.update(
            {
                "AC_ALLOW_LOOPBACK": "1",
                DEMO_URL_ENV: base_url,
                DEMO_KEY_ENV: api_key,
                "AC_HYGIENE_DATA_DIR": str(data_dir),
                "AC_HYGIENE_DNS": f"{mail.dns_host}:{mail.dns_port}",
                "AC_HYGIENE_SMTP_PORT": str(mail.smtp_port),
            }
        )

        instance = stack.enter_context(dg.DagsterInstance.get())
        _say(f"Dagster instance: {home} (dagster.yaml: {linked})")
        recovered = recover_stale_runs(instance)
        if recovered:
            _say(f"closed {recovered} run(s) left open by an interrupted demo")
        defs = build_definitions(demo_connections())
        tags = {DEMO_TAG: "true"}

        month_runs = run_month(defs, instance, DEMO_CONNECTION, tags, say=_say)
        results: dict[str, Any] = dict(month_runs.results)
        segments, reports = month_runs.segments, month_runs.reports
        stats = app.state.sandbox.stats

    failed = {name: r for name, r in results.items() if not r.success}
    if failed:
        for name, result in failed.items():
            problems = _check_failures(result) or [
                e.message or "" for e in result.all_events if e.is_step_failure
            ]
            _say(f"run {name} ({result.run_id}) FAILED: {'; '.join(problems)[:2000]}")
        raise click.ClickException("the demo failed; the runs above say where (and `./dev ui`)")

    node = f"{DEMO_CONNECTION}__"
    figures: dict[str, Any] = {
        "segments": segments,
        "requests": stats.total_requests,
        "seconds": time.monotonic() - started,
        "runs": {name: r.run_id for name, r in results.items()},
    }
    for segment in segments:
        result = results[segment]
        figures.setdefault("contacts", 0)
        figures["contacts"] += _metadata(result, node + "segment_contacts").get("contacts", 0)
        verified = _metadata(result, node + "verifications")
        planned = _metadata(result, node + "clean_plan")
        for key, value in [*verified.items(), *planned.items()]:
            if key.startswith(("status_", "action_", "credits_")) or key in (
                "from_cache",
                "addresses",
            ):
                figures[key] = figures.get(key, 0) + int(value)
    if "report" in results:
        report = _metadata(results["report"], node + "hygiene_report")
        figures["credits_used_this_month"] = report.get("credits_used")
        figures["report_month"] = str(reports[-1].partition_key)
    return figures


def print_summary(figures: dict[str, Any], data_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="ac-hygiene demo", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("segments run", ", ".join(figures["segments"]) or "(already run this month)")
    table.add_row("contacts", f"{figures.get('contacts', 0):,}")
    table.add_row(
        "addresses verified",
        f"{figures.get('addresses', 0):,} ({figures.get('from_cache', 0):,} from cache)",
    )
    for status in ("deliverable", "undeliverable", "risky", "unknown"):
        table.add_row(f"  {status}", f"{figures.get(f'status_{status}', 0):,}")
    for action in ("keep", "unsubscribe", "delete"):
        table.add_row(f"planned {action}", f"{figures.get(f'action_{action}', 0):,}")
    table.add_row(
        "credits charged by this run",
        f"{figures.get('credits_charged', 0):,} "
        f"({figures.get('credits_already_charged', 0):,} already charged this month, "
        f"{figures.get('credits_refunded_unknown', 0):,} unknown refunded)",
    )
    if figures.get("credits_used_this_month") is not None:
        table.add_row(
            f"credits used in {figures.get('report_month')}",
            f"{figures['credits_used_this_month']:,}",
        )
    table.add_row("ActiveCampaign requests", f"{figures['requests']:,}")
    table.add_row("time", f"{figures['seconds']:.1f} s")
    console.print(table)
    console.print(
        "Nothing was applied to the account: plans are reviewed first (auto-apply is off).\n"
        f"Tables: {data_dir / 'tables' / DEMO_CONNECTION}   ledger: {data_dir / 'ledger.sqlite'}\n"
        f"Next: [bold]./dev ui[/bold] and open {UI_URL} (asset group `{DEMO_CONNECTION}`: "
        "lineage, partitions, checks, the report's metadata). Run the demo again: cache hits, "
        "no credit charged twice."
    )


@click.command(name="demo")
@click.option(
    "--contacts",
    type=click.IntRange(min=1),
    default=DEFAULT_CONTACTS,
    show_default=True,
    help="Contacts in the generated sandbox account.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Generator seed.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where tables, ledger and the Dagster home go (default $AC_HYGIENE_DATA_DIR or ./data).",
)
def demo(contacts: int, seed: int, data_dir: Path | None) -> None:
    """Run the whole pipeline against local sandbox servers and print what it found."""
    from ac_hygiene.defs.settings import DATA_DIR_ENV

    data_dir = (data_dir or Path(os.environ.get(DATA_DIR_ENV) or "data")).absolute()
    if sys.platform == "win32":  # fcntl locks and the sandbox servers need a POSIX system
        raise click.ClickException("the demo needs Linux or macOS")
    with single_demo(data_dir):
        figures = run_demo(contacts, seed, data_dir, Path("dagster.yaml"))
    print_summary(figures, data_dir)
