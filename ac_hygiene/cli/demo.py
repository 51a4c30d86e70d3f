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
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from ac_hygiene.cli.sandbox_env import DEFAULT_CONTACTS, DEFAULT_SEED
from ac_hygiene.config import DEMO_CONNECTION

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

    from ac_hygiene.defs.run_tags import DEMO_TAG

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


def guardrail_verdict(result: Any) -> str:
    """One line: what the blocking guardrail checks on the plan said."""
    parts = []
    for e in result.get_asset_check_evaluations():
        if e.check_name == "plan_looks_sane":
            parts.append("plan looks sane" if e.passed else "plan SUSPECT (refused)")
        elif e.check_name == "change_share_within_limit":
            share, limit = e.metadata["share"].value, e.metadata["limit"].value
            verdict = "within" if e.passed else "OVER (refused)"
            parts.append(f"changes {share:.0%} of the segment, {verdict} the {limit:.0%} limit")
    return "; ".join(parts) or "no guardrail ran"


def apply_segments(
    defs: Any, instance: Any, month_runs: Any, tags: dict[str, str], results: dict
) -> dict:
    """Apply each segment planned this run (the sandbox is no customer's account)."""
    import dagster as dg

    from ac_hygiene.defs.connection_defs import apply_job_name
    from ac_hygiene.defs.local_runs import execute
    from ac_hygiene.defs.partitions import month_segment_key

    applied = {}
    for segment in month_runs.segments:
        if segment not in results or not month_runs.reports:
            continue
        _say(f"guardrail verdict for {segment}: {guardrail_verdict(results[segment])}")
        _say(f"applying the plan of {segment} to the sandbox account (unsubscribe, backup, delete)")
        partition = month_segment_key(str(month_runs.reports[0].partition_key), segment)
        run = dg.RunRequest(job_name=apply_job_name(DEMO_CONNECTION), partition_key=partition)
        results[f"apply {segment}"] = result = execute(defs, instance, run, tags)
        applied[segment] = (str(partition), result)
    return applied


def read_back(account: Any, data_dir: Path, applied: dict) -> dict[str, Any]:
    """The account's state after the apply, read from the sandbox, against the plans."""
    import polars as pl

    unsubscribed = deleted = planned_unsub = planned_del = 0
    for partition in (p for p, _ in applied.values()):
        month, segment = partition.split("|")
        plan = pl.read_parquet(
            data_dir / "tables" / DEMO_CONNECTION / "clean_plan" / month / f"{segment}.parquet"
        )
        with account.lock:
            for cid, action, lists in plan.select("contact_id", "action", "list_ids").iter_rows():
                if action == "delete":
                    planned_del += 1
                    deleted += cid not in account.contacts
                elif action == "unsubscribe":
                    planned_unsub += 1
                    unsubscribed += cid in account.contacts and all(
                        (m := account.membership(cid, lid)) is not None and m.status == 2
                        for lid in lists
                    )
    return {
        "account_unsubscribed": unsubscribed,
        "account_deleted": deleted,
        "planned_unsubscribe": planned_unsub,
        "planned_delete": planned_del,
        "apply_runs": {s: r.run_id for s, (_, r) in applied.items()},
    }


def restore_one(data_dir: Path, base_url: str, api_key: str, applied: dict) -> dict[str, Any]:
    """Undo one delete from the backup, as `ac-hygiene restore --contact` does."""
    import asyncio

    from ac_hygiene.activecampaign.client import ActiveCampaignClient
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.hygiene.restore import RestoreError, backup_records, restore

    for _, result in applied.values():
        try:
            records = backup_records(data_dir / "backups", DEMO_CONNECTION, result.run_id)
        except RestoreError:
            continue
        record = records[0]

        async def go(record: Any = record) -> Any:
            connection = Connection.from_raw(DEMO_CONNECTION, base_url, api_key)
            async with ActiveCampaignClient(connection) as client:
                return await restore(client, [record])

        (done,) = asyncio.run(go())
        _say(
            f"restored deleted contact {done.old_id} ({done.email}) from the backup of run "
            f"{result.run_id}: new id {done.new_id}"
        )
        return {
            "restored": f"{done.old_id} -> {done.new_id} ({done.email})",
            "restore_command": f"ac-hygiene restore --connection {DEMO_CONNECTION} "
            f"--run {result.run_id} --contact {done.old_id}",
        }
    return {}


def run_demo(contacts: int, seed: int, data_dir: Path, project_yaml: Path) -> dict[str, Any]:
    """The demo proper; returns the figures the summary prints."""
    from ac_hygiene.cli.instance import check_instance_yaml, open_instance
    from ac_hygiene.cli.sandbox_env import demo_world, save_settings
    from ac_hygiene.config import DEMO_KEY_ENV, demo_connections
    from ac_hygiene.defs.build import build_definitions
    from ac_hygiene.defs.local_runs import run_month
    from ac_hygiene.defs.run_tags import DEMO_TAG

    home = dagster_home(data_dir)
    linked = ensure_instance_config(home, project_yaml)
    check_instance_yaml(home)  # before any server starts: a broken file is one line
    started = time.monotonic()
    with ExitStack() as stack:
        world = stack.enter_context(demo_world(contacts, seed, data_dir, say=_say))
        app = world.app
        os.environ.update(world.env)
        # `ac-hygiene ui` serves the same account (same seed and size) for the UI.
        save_settings(data_dir, contacts, seed)

        instance = stack.enter_context(open_instance())
        _say(f"Dagster instance: {home} (dagster.yaml: {linked})")
        recovered = recover_stale_runs(instance)
        if recovered:
            _say(f"closed {recovered} run(s) left open by an interrupted demo")
        defs = build_definitions(demo_connections())
        tags = {DEMO_TAG: "true"}

        month_runs = run_month(defs, instance, DEMO_CONNECTION, tags, say=_say)
        results: dict[str, Any] = dict(month_runs.results)
        segments, reports = month_runs.segments, month_runs.reports
        applied = apply_segments(defs, instance, month_runs, tags, results)
        if applied:
            figures_after = read_back(app.state.sandbox.account, data_dir, applied)
            api_key = world.env[DEMO_KEY_ENV]
            figures_after.update(restore_one(data_dir, world.api_url, api_key, applied))
        else:
            figures_after = {}
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
                "addresses_in_segment",
                "duplicates",
                "unknown_not_charged",
            ):
                figures[key] = figures.get(key, 0) + int(value)
    figures.update(figures_after)
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
    # addresses − duplicates − already charged − unknown = charged, on screen
    table.add_row(
        "addresses in the segments",
        f"{figures.get('addresses_in_segment', 0):,} "
        f"({figures.get('duplicates', 0):,} duplicates, charged once)",
    )
    table.add_row(
        "credits charged by this run",
        f"{figures.get('credits_charged', 0):,} "
        f"({figures.get('credits_already_charged', 0):,} already charged this month, "
        f"{figures.get('unknown_not_charged', 0):,} unknown not charged)",
    )
    if figures.get("credits_used_this_month") is not None:
        table.add_row(
            f"credits used in {figures.get('report_month')}",
            f"{figures['credits_used_this_month']:,}",
        )
    if "account_deleted" in figures:
        table.add_row(
            "account after apply: unsubscribed",
            f"{figures['account_unsubscribed']:,} of {figures['planned_unsubscribe']:,} planned",
        )
        table.add_row(
            "account after apply: deleted",
            f"{figures['account_deleted']:,} of {figures['planned_delete']:,} planned",
        )
    if figures.get("restored"):
        table.add_row("restored from backup", figures["restored"])
    table.add_row("ActiveCampaign requests", f"{figures['requests']:,}")
    table.add_row("time", f"{figures['seconds']:.1f} s")
    console.print(table)
    applied_line = (
        "The plan was applied to the SANDBOX account (the demo's own; for a real connection a "
        "person applies after review: `ac-hygiene apply`, or `auto_apply: true`).\n"
        if "account_deleted" in figures
        else "Nothing new to apply this month (the plans were applied by an earlier run).\n"
    )
    undo = figures.get("restore_command", "ac-hygiene restore --connection demo --run RUN_ID")
    console.print(
        applied_line + f"Undo a delete: {undo}\n"
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
    from ac_hygiene.cli.params import utf8_path
    from ac_hygiene.defs.paths import DATA_DIR_ENV

    data_dir = (data_dir or Path(os.environ.get(DATA_DIR_ENV) or "data")).absolute()
    utf8_path(data_dir, "--data-dir (or AC_HYGIENE_DATA_DIR)")
    utf8_path(os.environ.get("DAGSTER_HOME", ""), "DAGSTER_HOME")
    if sys.platform == "win32":  # fcntl locks and the sandbox servers need a POSIX system
        raise click.ClickException("the demo needs Linux or macOS")
    with single_demo(data_dir):
        figures = run_demo(contacts, seed, data_dir, Path("dagster.yaml"))
    print_summary(figures, data_dir)
