"""`ac-hygiene apply`: apply one reviewed clean plan to ActiveCampaign (or show what it would do).

    ac-hygiene apply --connection acme --partition '2026-12|all' --dry-run
    ac-hygiene apply --connection acme --partition '2026-12|all'

Without `--dry-run` it materializes the `applied_actions` asset of that partition on the Dagster
instance in `$DAGSTER_HOME` (so the run, its journal and metadata are in the UI like one started
there), with the same guardrails: a refused plan exits 6 and says why, unless
`--override-guardrails REASON` (recorded with the run). `--dry-run` sends nothing: it re-reads the
contacts and prints, one JSON object per line, every write request that would be sent.

Exit codes: 0 applied (or dry run done), 2 bad input, 3-5 ActiveCampaign refused / unreachable /
inactive (as check-connection), 6 refused by the guardrails, 7 applied with actions left
unresolved (run it again: they are re-checked first), 1 anything else.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from typing import TYPE_CHECKING, Any

import click

from ac_hygiene.cli.check_connection import EXIT_BAD_INPUT, EXIT_OTHER, _fail, exit_code

if TYPE_CHECKING:
    import polars as pl

    from ac_hygiene.config import ConnectionSettings

EXIT_REFUSED = 6
EXIT_UNRESOLVED = 7
_PARTITION = re.compile(r"(\d{4}-\d{2})\|([a-z0-9][a-z0-9_-]{0,99})")


def parse_partition(raw: str) -> tuple[str, str]:
    match = _PARTITION.fullmatch(raw.strip())
    if not match:
        _fail(
            f"--partition {raw!r} is not `YYYY-MM|segment` (e.g. '2026-12|all' or "
            "'2026-12|list-3'); quote it, the `|` is a pipe to the shell",
            EXIT_BAD_INPUT,
        )
        raise AssertionError("unreachable")
    return match.group(1), match.group(2)


def settings_for(name: str) -> ConnectionSettings:
    from ac_hygiene.config import ConnectionsConfigError, load_connections

    try:
        return load_connections().get(name)
    except (ConnectionsConfigError, KeyError) as exc:
        _fail(str(exc).strip("\"'"), EXIT_BAD_INPUT)
        raise AssertionError("unreachable") from None


def credentials(settings: ConnectionSettings) -> tuple[str, str]:
    url = os.environ.get(settings.api_url_env, "")
    key = os.environ.get(settings.api_key_env, "")
    missing = [n for n, v in ((settings.api_url_env, url), (settings.api_key_env, key)) if not v]
    if missing:
        _fail(f"{settings.name}: set {' and '.join(missing)}.", EXIT_BAD_INPUT)
    return url, key


def _read_table(connection: str, asset: str, month: str, segment: str) -> pl.DataFrame:
    import polars as pl
    from upath import UPath

    from ac_hygiene.defs.paths import tables_base_path

    path = UPath(tables_base_path()) / connection / asset / month / f"{segment}.parquet"
    if not path.exists():
        _fail(
            f"no {asset} for {month}|{segment} of {connection!r} at {path}: materialize the "
            "segment first (the UI, or `dagster asset materialize ... --partition`)",
            EXIT_BAD_INPUT,
        )
    with path.open("rb") as handle:
        return pl.read_parquet(handle)


def _dry_run(settings: ConnectionSettings, month: str, segment: str, override: str) -> None:
    from ac_hygiene.activecampaign.client import ActiveCampaignClient
    from ac_hygiene.activecampaign.credentials import Connection
    from ac_hygiene.activecampaign.errors import ActiveCampaignError
    from ac_hygiene.defs.paths import data_dir, ledger_url
    from ac_hygiene.hygiene.apply import ApplyOptions, apply_plan
    from ac_hygiene.hygiene.guardrails import GuardVerdict, guard_findings, refusal_message
    from ac_hygiene.hygiene.journal import ApplyJournal

    plan = _read_table(settings.name, "clean_plan", month, segment)
    verifications = _read_table(settings.name, "verifications", month, segment)
    findings = guard_findings(plan, verifications, max_change_share=settings.max_change_share)
    if not GuardVerdict(findings, override or None).allowed:
        _fail(refusal_message(findings), EXIT_REFUSED)
    url, key = credentials(settings)
    partition = f"{month}|{segment}"

    async def go() -> Any:
        async with ActiveCampaignClient(Connection.from_raw(settings.name, url, key)) as client:
            with ApplyJournal(ledger_url()) as journal:
                return await apply_plan(
                    client,
                    plan,
                    journal=journal,
                    connection=settings.name,
                    partition=partition,
                    run_id="dry-run",
                    backups_dir=data_dir() / "backups",
                    options=ApplyOptions(write_back=settings.write_back, dry_run=True),
                    progress=lambda m: click.echo(m, err=True),
                )

    try:
        report = asyncio.run(go())
    except ActiveCampaignError as exc:
        _fail(f"{settings.name}: {exc}", exit_code(exc))
        return
    for request in report.dry_run_requests:
        click.echo(json.dumps(request, ensure_ascii=False))
    counts = {k: v for k, v in report.counts().items() if v}
    click.echo(
        f"dry run of {settings.name} {partition}: {len(report.dry_run_requests)} write "
        f"request(s) would be sent, nothing was; outcomes {counts}; skipped "
        f"{report.skipped_reasons()}",
        err=True,
    )


def _apply(settings: ConnectionSettings, month: str, segment: str, override: str) -> None:
    import dagster as dg

    from ac_hygiene.config import load_connections
    from ac_hygiene.defs.build import build_definitions
    from ac_hygiene.defs.connection_defs import apply_job_name
    from ac_hygiene.defs.local_runs import execute
    from ac_hygiene.defs.partitions import month_segment_key, segments_name
    from ac_hygiene.hygiene.guardrails import OVERRIDE_TAG

    if not os.environ.get("DAGSTER_HOME"):
        _fail(
            "DAGSTER_HOME is not set: point it at the instance the UI uses (./dev sets "
            "data/dagster_home); the apply run is recorded there.",
            EXIT_BAD_INPUT,
        )
    credentials(settings)
    defs = build_definitions(load_connections())
    tags = {OVERRIDE_TAG: override} if override else {}
    with dg.DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition(segments_name(settings.name), segment):
            _fail(
                f"segment {segment!r} is not registered for {settings.name!r}: run "
                "`ac-hygiene register-segments` and materialize its plan first",
                EXIT_BAD_INPUT,
            )
        _read_table(settings.name, "clean_plan", month, segment)  # exists, or a clear error
        request = dg.RunRequest(
            job_name=apply_job_name(settings.name),
            partition_key=month_segment_key(month, segment),
        )
        result = execute(defs, instance, request, tags)
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        data = failures[0].step_failure_data if failures else None
        description = ""
        if data is not None:
            description = (
                data.user_failure_data.description
                if data.user_failure_data is not None
                else (data.error.message if data.error else "")
            )
        refused = "NOT applied" in description
        _fail(
            f"run {result.run_id} failed: {description.strip()[:3000]}",
            EXIT_REFUSED if refused else EXIT_OTHER,
        )
    (materialization,) = result.asset_materializations_for_node(f"{settings.name}__applied_actions")
    meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    counts = {
        k: v for k, v in meta.items() if re.fullmatch(r"(keep|unsubscribe|delete)_\w+", k) and v
    }
    click.echo(f"run {result.run_id}: {counts}; {meta['requests_total']} requests")
    click.echo(f"backup of deleted contacts: {meta['backup_file']}")
    if meta.get("unresolved"):
        _fail(
            f"{meta['unresolved']} action(s) have no known outcome yet: run the same command "
            "again (they are re-checked against the account before anything is re-sent)",
            EXIT_UNRESOLVED,
        )


@click.command(name="apply")
@click.option("--connection", "name", required=True, metavar="NAME", help="Connection name.")
@click.option("--partition", required=True, metavar="'YYYY-MM|SEGMENT'", help="The plan to apply.")
@click.option("--dry-run", is_flag=True, help="Print the write requests; send nothing.")
@click.option(
    "--override-guardrails",
    default="",
    metavar="REASON",
    help="Apply although a guardrail refuses the plan; the reason is recorded with the run.",
)
def apply(name: str, partition: str, dry_run: bool, override_guardrails: str) -> None:
    """Apply a reviewed clean plan (Keep / Unsubscribe / Delete) to the ActiveCampaign account."""
    month, segment = parse_partition(partition)
    settings = settings_for(name)
    override = override_guardrails.strip()
    if dry_run:
        _dry_run(settings, month, segment, override)
    else:
        _apply(settings, month, segment, override)
