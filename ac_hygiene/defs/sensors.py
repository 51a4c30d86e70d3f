"""The monthly planner: what runs this month for a connection, decided without a request.

Each tick, for the month in progress:

1. once a month, a run of the month's **account snapshot** (every contact, one resumable keyset
   pass: the month's only full read) and, queued behind it, a run of the account tables (lists,
   tags, fields);
2. once the snapshot exists, the segment runs, planned from the snapshot's own figures (no
   request): under the connection's threshold one `all` run; at or over it one run per tag (or
   list) present on the contacts plus the remainder `untagged` (`unlisted`), so the segments
   together hold every contact. Every segment seen is registered as a partition, so any single
   list or tag can also be backfilled from the UI.

The monthly report is not requested here: it refreshes itself when a segment's plan changes
(declarative automation). The cursor remembers what was requested this month, and every request
has a `run_key`, which the daemon never launches twice. A tick with nothing to request costs two
reads of the Dagster instance and no request to ActiveCampaign. Runs carry the connection and
month as tags. The sensor is stopped by default: starting it is the decision to spend credits
every month.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from ac_hygiene.defs.run_tags import CONNECTION_TAG, MONTH_TAG
from ac_hygiene.defs.snapshot_assets import snapshot_metadata

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

__all__ = ["MONTH_TAG", "AccountShape", "MonthCursor", "planned_segments"]

#: Seconds between ticks: how soon the segment runs follow the snapshot (the hand-over is on the
#: month's critical path). A tick with nothing to request is two reads of the Dagster instance.
TICK_INTERVAL_S = 3


@dataclass(frozen=True)
class AccountShape:
    """What the planner needs to know about the account (from the month's snapshot)."""

    contacts: int
    list_ids: list[int]
    tag_ids: list[int]
    #: contacts per segment (`tag-3`, `untagged`, ...); empty for snapshots older than the field
    sizes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, metadata: Mapping[str, object]) -> Self:
        def ids(key: str) -> list[int]:
            value = metadata.get(key) or []
            return sorted(int(i) for i in value) if isinstance(value, list) else []

        contacts = metadata.get("contacts")
        sizes = metadata.get("segment_sizes")
        return cls(
            contacts=int(contacts) if isinstance(contacts, int | float) else 0,
            list_ids=ids("list_ids"),
            tag_ids=ids("tag_ids"),
            sizes=(
                {str(k): int(v) for k, v in sizes.items() if isinstance(v, int | float)}
                if isinstance(sizes, dict)
                else {}
            ),
        )


def remainder(settings: ConnectionSettings) -> str:
    """The segment of the contacts in no planned segment: `untagged` or `unlisted`."""
    return "untagged" if settings.segment_by == "tag" else "unlisted"


def all_segments(shape: AccountShape) -> list[str]:
    """Every segment the month's contacts have: `all`, the remainders, each list, each tag."""
    return [
        "all",
        "untagged",
        "unlisted",
        *(f"list-{i}" for i in sorted(shape.list_ids)),
        *(f"tag-{i}" for i in sorted(shape.tag_ids)),
    ]


def planned_segments(shape: AccountShape, settings: ConnectionSettings) -> list[str]:
    """The segments to run this month (see the module docstring), largest first.

    The run queue starts runs in the order they were requested, and a month ends with its last
    segment's plan: with the largest segments queued first, the run slots finish together instead
    of the remainder (often the largest segment of all) running alone at the end.
    """
    if shape.contacts < settings.threshold:
        return ["all"]
    ids = shape.tag_ids if settings.segment_by == "tag" else shape.list_ids
    if not ids:  # nothing to split by: every contact is in the remainder, i.e. `all`
        return ["all"]
    segments = [*(f"{settings.segment_by}-{i}" for i in sorted(ids)), remainder(settings)]
    return sorted(segments, key=lambda segment: -shape.sizes.get(segment, 0))  # stable


@dataclass
class MonthCursor:
    """What this sensor already requested in `month`."""

    month: str = ""
    segments: list[str] = field(default_factory=list)
    account: bool = False
    snapshot: bool = False

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
        # from launching any run twice.
        data = cls.decode(raw) or {}
        if data.get("month") != month:  # a new month starts from nothing
            return cls(month=month)
        return cls(
            month=month,
            segments=[str(s) for s in data.get("segments", [])],
            account=bool(data.get("account")),
            snapshot=bool(data.get("snapshot")),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "month": self.month,
                "segments": self.segments,
                "account": self.account,
                "snapshot": self.snapshot,
            },
            sort_keys=True,
        )


async def read_shape(client: ActiveCampaignClient) -> AccountShape:
    """Size, lists and tags from the API (three requests): for `ac-hygiene register-segments`,
    which registers every list and tag, members or not, without a snapshot."""
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
    snapshot_job: UnresolvedAssetJobDefinition,
    apply_job: UnresolvedAssetJobDefinition | None = None,
) -> dg.SensorDefinition:
    connection = settings.name

    @dg.sensor(
        name=f"{connection}__monthly_plan",
        description=(
            f"Plans the month for connection {connection!r}: the account snapshot, then one `all` "
            f"run under {settings.threshold:,} contacts, else one run per {settings.segment_by} "
            f"and `{remainder(settings)}`."
        ),
        jobs=[segment_job, account_job, snapshot_job, *([apply_job] if apply_job else [])],
        minimum_interval_seconds=TICK_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def monthly_plan(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return plan_tick(
            context,
            settings,
            segment_job.name,
            account_job.name,
            snapshot_job.name,
            apply_job=apply_job.name if apply_job else None,
        )

    return monthly_plan


def plan_tick(
    context: dg.SensorEvaluationContext,
    settings: ConnectionSettings,
    segment_job: str,
    account_job: str,
    snapshot_job: str,
    now: datetime | None = None,
    apply_job: str | None = None,
) -> dg.SensorResult:
    """One evaluation of the sensor (a function of its own so tests can pin the month)."""
    connection = settings.name
    month = current_month(now)
    if context.cursor and MonthCursor.decode(context.cursor) is None:
        context.log.warning(
            f"{connection}: the sensor's cursor {context.cursor[:80]!r} is not one it wrote; "
            f"planning {month} from scratch (run keys keep every run from launching twice)"
        )
    cursor = MonthCursor.load(context.cursor, month)
    tags = {CONNECTION_TAG: connection, MONTH_TAG: month}
    requests: list[dg.RunRequest] = []
    new_segments: list[str] = []

    # The snapshot first: it is the month's critical path (rate-bound, with the cache warm-up
    # riding along), and the account's runs that call ActiveCampaign take turns (run_queue), so
    # the small account tables wait for it and refresh beside the segment runs instead of
    # delaying every one of them by a run's start-up. Its only cost: the snapshot reads the tags
    # table itself when none was materialized yet (one request, the first month).
    snapshot = snapshot_metadata(context.instance, connection, month)
    if snapshot is None and not cursor.snapshot:
        requests.append(
            dg.RunRequest(
                run_key=run_key(connection, month, "snapshot"),
                job_name=snapshot_job,
                partition_key=month,
                tags=tags,
            )
        )
        cursor.snapshot = True
    if not cursor.account:
        requests.append(
            dg.RunRequest(
                run_key=run_key(connection, month, "account"), job_name=account_job, tags=tags
            )
        )
        cursor.account = True
    if snapshot is not None and not cursor.segments:
        shape = AccountShape.from_snapshot(snapshot)
        registered = set(context.instance.get_dynamic_partitions(segments_name(connection)))
        new_segments = [s for s in all_segments(shape) if s not in registered]
        cursor.segments = planned_segments(shape, settings)
        requests += [
            dg.RunRequest(
                run_key=run_key(connection, month, segment),
                job_name=segment_job,
                partition_key=month_segment_key(month, segment),
                tags=tags,
            )
            for segment in cursor.segments
        ]
        context.log.info(
            f"{connection} {month}: snapshot of {shape.contacts:,} contacts (threshold "
            f"{settings.threshold:,}); {len(cursor.segments)} segment run(s) requested, "
            f"{len(new_segments)} new segment(s) registered"
        )
    elif snapshot is None:
        context.log.info(f"{connection} {month}: waiting for the month's account snapshot")
    requests += auto_apply_requests(context, settings, apply_job, month, tags)  # auto_apply only
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [dg.AddDynamicPartitionsRequest(segments_name(connection), new_segments)]
            if new_segments
            else []
        ),
        cursor=cursor.dump(),
    )
