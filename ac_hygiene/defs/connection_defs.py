"""Everything one connection contributes to the code location: assets, checks, jobs, sensor.

Asset keys are prefixed with the connection name (`acme/segment_contacts`) and grouped by it, so
several accounts sit side by side in one lineage graph without mixing.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.account_assets import ACCOUNT_TABLES, account_assets
from ac_hygiene.defs.apply_assets import apply_assets
from ac_hygiene.defs.checks import connection_checks
from ac_hygiene.defs.new_contacts_sensor import new_contacts_defs
from ac_hygiene.defs.report_assets import report_assets
from ac_hygiene.defs.resources import activecampaign_resource, activecampaign_resource_key
from ac_hygiene.defs.run_tags import ACTIVECAMPAIGN_TAG, CONNECTION_TAG
from ac_hygiene.defs.segment_assets import SEGMENT_ASSETS, segment_assets
from ac_hygiene.defs.sensors import build_monthly_sensor
from ac_hygiene.defs.snapshot_assets import SNAPSHOT, snapshot_assets


def segment_job_name(connection: str) -> str:
    return f"{connection}__segment_job"


def account_job_name(connection: str) -> str:
    return f"{connection}__account_job"


def snapshot_job_name(connection: str) -> str:
    return f"{connection}__snapshot_job"


def report_job_name(connection: str) -> str:
    return f"{connection}__report_job"


def apply_job_name(connection: str) -> str:
    return f"{connection}__apply_job"


@dataclass(frozen=True)
class ConnectionDefs:
    assets: list[dg.AssetsDefinition]
    checks: list[dg.AssetChecksDefinition]
    jobs: list[UnresolvedAssetJobDefinition]
    sensors: list[dg.SensorDefinition]
    resources: dict[str, dg.ConfigurableResource]


def _selection(connection: str, names: tuple[str, ...]) -> dg.AssetSelection:
    keys = [dg.AssetKey([connection, name]) for name in names]
    # Selecting assets selects their checks too, so blocking checks run inside the same run.
    return dg.AssetSelection.assets(*keys)


def connection_defs(settings: ConnectionSettings) -> ConnectionDefs:
    connection = settings.name
    tags = {CONNECTION_TAG: connection}
    # Runs that call ActiveCampaign carry the account in ACTIVECAMPAIGN_TAG: dagster.yaml's run
    # queue lets one of them run per account at a time (segment runs get it from the run queue
    # only when their month has no snapshot, see run_queue).
    api_tags = {**tags, ACTIVECAMPAIGN_TAG: connection}
    segment_job = dg.define_asset_job(
        segment_job_name(connection),
        selection=_selection(connection, SEGMENT_ASSETS),
        tags=tags,
        description=(
            f"One segment of {connection!r} for one month: cut from the month's snapshot (or "
            "read alone), verify, plan."
        ),
    )
    account_job = dg.define_asset_job(
        account_job_name(connection),
        selection=_selection(connection, ACCOUNT_TABLES),
        tags=api_tags,
        description=f"The account tables of {connection!r}: lists, tags, custom fields.",
    )
    snapshot_job = dg.define_asset_job(
        snapshot_job_name(connection),
        selection=_selection(connection, (SNAPSHOT,)),
        tags=api_tags,
        description=f"The month's account snapshot of {connection!r}: every contact, read once.",
    )
    report_job = dg.define_asset_job(
        report_job_name(connection),
        selection=_selection(connection, ("hygiene_report",)),
        tags=tags,
        description=f"The monthly hygiene report of {connection!r}.",
    )
    watch = new_contacts_defs(settings)  # the new-contacts watch: window assets, job, sensor
    apply_job = dg.define_asset_job(
        apply_job_name(connection),
        selection=_selection(connection, ("applied_actions",)),
        tags=api_tags,
        description=(
            f"Apply one reviewed clean plan of {connection!r} to ActiveCampaign (guardrails first)."
        ),
    )
    return ConnectionDefs(
        assets=[
            *account_assets(settings),
            *snapshot_assets(settings),
            *segment_assets(settings),
            *report_assets(settings),
            *watch.assets,
            *apply_assets(settings),
        ],
        checks=[*connection_checks(settings), *watch.checks],
        jobs=[segment_job, account_job, snapshot_job, report_job, apply_job, watch.job],
        sensors=[
            build_monthly_sensor(settings, segment_job, account_job, snapshot_job, apply_job),
            watch.sensor,
        ],
        resources={activecampaign_resource_key(connection): activecampaign_resource(settings)},
    )
