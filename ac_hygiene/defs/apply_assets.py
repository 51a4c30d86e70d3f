"""`applied_actions`: the step that writes a reviewed clean plan back to ActiveCampaign.

Partitioned like the plan (month × segment). It is never part of the segment job: a person
materializes it after reviewing the plan (UI or `ac-hygiene apply`), or the sensor requests it
when the connection sets `auto_apply: true`. Either way the guardrails run first, here, on the
stored plan: a plan the blocking checks refuse is refused here too (a separate run does not see
the segment run's check results), unless the run carries an explicit override, which is logged
and recorded in the materialization.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.locks import account_lock
from ac_hygiene.defs.metadata import counts_table, markdown_table, preview
from ac_hygiene.defs.partitions import month_segment_partitions
from ac_hygiene.defs.paths import data_dir
from ac_hygiene.defs.resources import (
    ActiveCampaignResource,
    LedgerResource,
    activecampaign_resource_key,
)
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG
from ac_hygiene.hygiene.apply import ApplyOptions, ApplyReport, apply_plan
from ac_hygiene.hygiene.guardrails import (
    OVERRIDE_TAG,
    GuardVerdict,
    guard_findings,
    refusal_message,
)
from ac_hygiene.hygiene.journal import ApplyJournal


class ApplyConfig(dg.Config):
    override_guardrails: str = Field(
        default="",
        description=(
            "Apply even though a guardrail refuses the plan: say why (recorded with the run). "
            f"The run tag `{OVERRIDE_TAG}` does the same."
        ),
    )


def backups_dir() -> Path:
    """Where the apply step writes backups of deleted contacts (and restore reads them)."""
    return data_dir() / "backups"


def planned_at(
    instance: dg.DagsterInstance,
    connection: str,
    partition: str,
    contacts_asset: str = "segment_contacts",
) -> datetime | None:
    """When the plan's contacts were read: the start of the run that materialized
    `contacts_asset` for the partition (changes after it were made by someone else)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([connection, contacts_asset]), asset_partitions=[partition]
        ),
        limit=1,
    ).records
    if not records:
        return None
    record = records[0]
    run = instance.get_run_record_by_id(record.run_id) if record.run_id else None
    started = run.start_time if run is not None and run.start_time else record.timestamp
    return datetime.fromtimestamp(started, UTC)


def report_metadata(report: ApplyReport, override: str | None) -> dict[str, object]:
    counts = report.counts()
    return {
        "contacts": report.actions.height,
        "by_action_and_outcome": counts_table(counts, ("action_outcome", "contacts")),
        **{key: value for key, value in counts.items()},
        "skipped_by_reason": counts_table(report.skipped_reasons(), ("reason", "contacts")),
        "requests": dg.MetadataValue.json(dict(report.requests)),
        "requests_total": sum(report.requests.values()),
        "unresolved": report.unresolved,
        "deleted_preview": dg.MetadataValue.md(
            markdown_table(pl.DataFrame(report.deleted_preview))
            if report.deleted_preview
            else "nothing deleted by this run"
        ),
        "backup_file": str(report.backup_file) if report.backup_file else "none (no delete)",
        "guardrail_override": override or "",
        "apply_seconds": round(report.wall_s, 2),
        "preview": preview(report.actions.filter(pl.col("action") != "keep")),
    }


@dataclass(frozen=True)
class ApplyTarget:
    """Which plan an apply asset applies: a monthly segment's, or a new-contacts window's."""

    name: str  # the apply asset
    plan: str  # its plan asset (schema CleanPlan)
    verifications: str  # the verifications the plan was built from (for the guardrails)
    contacts: str  # the asset whose run read the contacts (re-check: changed since then?)
    partitions: dg.PartitionsDefinition
    group: str
    description: str


def monthly_target(connection: str) -> ApplyTarget:
    return ApplyTarget(
        name="applied_actions",
        plan="clean_plan",
        verifications="verifications",
        contacts="segment_contacts",
        partitions=month_segment_partitions(connection),
        group=connection,
        description=(
            "Applies the reviewed clean plan to ActiveCampaign (unsubscribe via bulk import, "
            "delete after a backup), exactly once; one row per contact with its outcome."
        ),
    )


def apply_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    return [apply_asset(settings, monthly_target(settings.name))]


def apply_asset(settings: ConnectionSettings, target: ApplyTarget) -> dg.AssetsDefinition:
    connection = settings.name
    resource_key = activecampaign_resource_key(connection)

    @dg.asset(
        key=[connection, target.name],
        description=target.description,
        ins={
            "plan": dg.AssetIn(key=[connection, target.plan]),
            "verifications": dg.AssetIn(key=[connection, target.verifications]),
        },
        group_name=target.group,
        partitions_def=target.partitions,
        tags={CONNECTION_TAG: connection},
        required_resource_keys={resource_key, "ledger"},
        kinds={"activecampaign", "polars"},
    )
    def applied_actions(
        context: dg.AssetExecutionContext,
        config: ApplyConfig,
        plan: pl.DataFrame,
        verifications: pl.DataFrame,
    ) -> dg.Output[pl.DataFrame]:
        tag_run(context)
        ledger: LedgerResource = context.resources.ledger
        partition = str(context.partition_key)
        override = (config.override_guardrails or context.run.tags.get(OVERRIDE_TAG, "")).strip()
        findings = guard_findings(plan, verifications, max_change_share=settings.max_change_share)
        verdict = GuardVerdict(findings, override or None)
        if not verdict.allowed:
            raise dg.Failure(
                description=f"{connection} {partition}: {refusal_message(findings)}",
                metadata={"findings": [f"{f.code}: {f.message}" for f in findings]},
                allow_retries=False,
            )
        if findings:
            context.log.warning(
                f"{connection} {partition}: guardrails overridden ({override!r}) for: "
                + "; ".join(f.message for f in findings)
            )
        when = planned_at(context.instance, connection, partition, target.contacts)
        if when is None:
            context.log.warning(
                f"{connection} {partition}: no {target.contacts} materialization found; "
                "contacts whose subscriptions changed by hand cannot be told apart"
            )
        resource: ActiveCampaignResource = getattr(context.resources, resource_key)
        options = ApplyOptions(planned_at=when, write_back=settings.write_back)
        with account_lock(connection), ApplyJournal(ledger.database_url()) as journal:
            report = resource.run(
                lambda client: apply_plan(
                    client,
                    plan,
                    journal=journal,
                    connection=connection,
                    partition=partition,
                    run_id=context.run.run_id,
                    backups_dir=backups_dir(),
                    options=options,
                    progress=context.log.info,
                )
            )
        counts = report.counts()
        context.log.info(
            f"{connection} {partition}: "
            + ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in counts.items() if n)
            + f"; {sum(report.requests.values()):,} requests"
        )
        if report.unresolved:
            context.log.warning(
                f"{connection} {partition}: {report.unresolved} action(s) have no known outcome "
                "yet (an import status that could not be read); materialize again to re-check "
                "them against the account (nothing is re-sent blindly)"
            )
        return dg.Output(report.actions, metadata=report_metadata(report, override or None))

    return applied_actions
