"""The monthly planner: which segments of an account run this month, decided from its size.

Each tick reads the account's size, lists and tags (3 requests for a typical account), registers
every list and tag as a segment (so any of them can be backfilled from the UI or the CLI) and
requests, for the month in progress:

- under the connection's threshold: one `all` run;
- at or over it: one run per tag (or per list, as the connection says). Contacts with no tag (or
  on no list) are then not covered: that is the price of segmenting, and why the threshold is high;
- once per month, a run of the account tables (lists, tags, fields);
- once every planned segment has its clean plan, the monthly report.

The cursor remembers what was requested this month, so a second tick requests nothing new (and
each request also has a `run_key`, which the daemon never launches twice). Runs carry the
connection as a tag. The sensor is stopped by default: starting it is the decision to spend
credits every month.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Self

import dagster as dg
import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.reads import count, fetch_lists, fetch_tags
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.auto_apply import auto_apply_requests
from ac_hygiene.defs.partitions import current_month, month_segment_key, segments_name
from ac_hygiene.defs.resources import ActiveCampaignResource, activecampaign_resource_key
from ac_hygiene.defs.tags import CONNECTION_TAG

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

MONTH_TAG = "ac_hygiene/month"
TICK_INTERVAL_S = 3600


@dataclass(frozen=True)
class AccountShape:
    """What the planner needs to know about the account."""

    contacts: int
    list_ids: list[int]
    tag_ids: list[int]


def all_segments(shape: AccountShape) -> list[str]:
    """Every segment the account has: `all`, each list, each tag."""
    return [
        "all",
        *(f"list-{i}" for i in sorted(shape.list_ids)),
        *(f"tag-{i}" for i in sorted(shape.tag_ids)),
    ]


def planned_segments(shape: AccountShape, settings: ConnectionSettings) -> list[str]:
    """The segments to run this month (see the module docstring)."""
    if shape.contacts < settings.threshold:
        return ["all"]
    ids = shape.tag_ids if settings.segment_by == "tag" else shape.list_ids
    if not ids:  # nothing to split by: one run is still better than none
        return ["all"]
    return [f"{settings.segment_by}-{i}" for i in sorted(ids)]


@dataclass
class MonthCursor:
    """What this sensor already requested in `month`."""

    month: str = ""
    segments: list[str] = field(default_factory=list)
    account: bool = False
    report: bool = False

    @staticmethod
    def decode(raw: str | None) -> dict | None:
        """The stored cursor as a mapping; None if it is not one this sensor wrote (a cursor can
        be set by hand in the UI)."""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("segments", []), list):
            return None
        return data

    @classmethod
    def load(cls, raw: str | None, month: str) -> Self:
        # An unreadable cursor plans the month from nothing: the run keys still stop the daemon
        # from launching any (month, segment) twice.
        data = cls.decode(raw) or {}
        if data.get("month") != month:  # a new month starts from nothing
            return cls(month=month)
        return cls(
            month=month,
            segments=list(data.get("segments", [])),
            account=bool(data.get("account")),
            report=bool(data.get("report")),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "month": self.month,
                "segments": self.segments,
                "account": self.account,
                "report": self.report,
            },
            sort_keys=True,
        )


async def read_shape(client: ActiveCampaignClient) -> AccountShape:
    """Size, lists and tags: the three reads the plan needs, and nothing more."""
    contacts = await count(client, "/contacts")
    lists: pl.DataFrame = await fetch_lists(client)
    tags: pl.DataFrame = await fetch_tags(client)
    return AccountShape(
        contacts=contacts, list_ids=lists["list_id"].to_list(), tag_ids=tags["tag_id"].to_list()
    )


def run_key(connection: str, month: str, what: str) -> str:
    return f"{connection}:{month}:{what}"


def build_monthly_sensor(
    settings: ConnectionSettings,
    segment_job: UnresolvedAssetJobDefinition,
    account_job: UnresolvedAssetJobDefinition,
    report_job: UnresolvedAssetJobDefinition,
    apply_job: UnresolvedAssetJobDefinition | None = None,
) -> dg.SensorDefinition:
    connection = settings.name
    resource_key = activecampaign_resource_key(connection)
    plan_key = dg.AssetKey([connection, "clean_plan"])

    @dg.sensor(
        name=f"{connection}__monthly_plan",
        description=(
            f"Plans the month for connection {connection!r}: one `all` run under "
            f"{settings.threshold:,} contacts, else one run per {settings.segment_by}."
        ),
        jobs=[segment_job, account_job, report_job, *([apply_job] if apply_job else [])],
        minimum_interval_seconds=TICK_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={resource_key},
    )
    def monthly_plan(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return plan_tick(
            context,
            settings,
            segment_job.name,
            account_job.name,
            report_job.name,
            plan_key,
            resource_key,
            apply_job=apply_job.name if apply_job else None,
        )

    return monthly_plan


def plan_tick(
    context: dg.SensorEvaluationContext,
    settings: ConnectionSettings,
    segment_job: str,
    account_job: str,
    report_job: str,
    plan_key: dg.AssetKey,
    resource_key: str,
    now: datetime | None = None,
    apply_job: str | None = None,
) -> dg.SensorResult:
    """One evaluation of the sensor (a function of its own so tests can pin the month)."""
    connection = settings.name
    resource: ActiveCampaignResource = getattr(context.resources, resource_key)
    month = current_month(now)
    if context.cursor and MonthCursor.decode(context.cursor) is None:
        context.log.warning(
            f"{connection}: the sensor's cursor {context.cursor[:80]!r} is not one it wrote; "
            f"planning {month} from scratch (run keys keep every run from launching twice)"
        )
    cursor = MonthCursor.load(context.cursor, month)
    shape = resource.run(read_shape)

    registered = set(context.instance.get_dynamic_partitions(segments_name(connection)))
    new_segments = [s for s in all_segments(shape) if s not in registered]
    planned = planned_segments(shape, settings)
    tags = {CONNECTION_TAG: connection, MONTH_TAG: month}

    requests: list[dg.RunRequest] = []
    if not cursor.account:
        requests.append(
            dg.RunRequest(
                run_key=run_key(connection, month, "account"), job_name=account_job, tags=tags
            )
        )
        cursor.account = True
    for segment in planned:
        if segment in cursor.segments:
            continue
        requests.append(
            dg.RunRequest(
                run_key=run_key(connection, month, segment),
                job_name=segment_job,
                partition_key=month_segment_key(month, segment),
                tags=tags,
            )
        )
        cursor.segments.append(segment)

    if not cursor.report:
        done = {str(key) for key in context.instance.get_materialized_partitions(plan_key)}
        if all(str(month_segment_key(month, s)) in done for s in cursor.segments):
            requests.append(
                dg.RunRequest(
                    run_key=run_key(connection, month, "report"),
                    job_name=report_job,
                    partition_key=month,
                    tags=tags,
                )
            )
            cursor.report = True

    requests += auto_apply_requests(context, settings, apply_job, month, tags)  # auto_apply only
    context.log.info(
        f"{connection} {month}: {shape.contacts:,} contacts (threshold {settings.threshold:,}); "
        f"{len(planned)} segment(s) planned, {len(requests)} run(s) requested, "
        f"{len(new_segments)} new segment(s) registered"
    )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [dg.AddDynamicPartitionsRequest(segments_name(connection), new_segments)]
            if new_segments
            else []
        ),
        cursor=cursor.dump(),
    )
