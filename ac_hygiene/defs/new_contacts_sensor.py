"""The new-contacts sensor: every few hours, one run for the window of what changed since.

Per connection, `<conn>__new_contacts`, stopped by default (starting it is the decision to spend
credits between monthly runs), ticking every `new_contacts.interval_hours` of the connections file.

The cursor is a timestamp, the *watermark*: every change up to it has been read by a run that
succeeded. Each tick:

1. if the previous window's run is still queued or running, waits (windows never overlap in
   flight, so the address book and the ledger see them in order);
2. if it succeeded, the watermark moves to that window's end; if it failed (or vanished), the
   watermark stays, so the next window covers the failed one's instants too - nothing is lost
   to a crash, and the failed run stays in the UI to be looked at;
3. the next window is `[watermark - overlap, now]`. The overlap (`overlap_minutes`) re-reads the
   last minutes of the previous window: a contact written in the very second the previous window
   closed, or stamped by an ActiveCampaign clock behind ours, is read again rather than lost.
   Contacts read twice cost a read, not a verification: the address book knows them;
4. two 1-row requests ask whether anything was created or changed since (whole days: the API's
   filters are dates); if not, the watermark moves to now and no run is launched;
5. otherwise the window is registered as a partition and one run requested for it.

Where the watch starts: the first tick anchors the watermark at the start of this month's
monthly read of the account (`monthly_read_started`), so what changed after that read is the
first window; with no monthly read this month, the watch starts now (the next monthly run covers
the past).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from ac_hygiene.activecampaign.changes import ChangeWindow, changes_may_exist
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.new_contacts_assets import (
    NEW_CLEAN_PLAN,
    new_contacts_assets,
    new_contacts_checks,
    window_asset_names,
    window_key,
    windows_name,
)
from ac_hygiene.defs.partitions import current_month
from ac_hygiene.defs.resources import ActiveCampaignResource, activecampaign_resource_key
from ac_hygiene.defs.run_tags import ACTIVECAMPAIGN_TAG, CONNECTION_TAG
from ac_hygiene.defs.sensors import MONTH_TAG

WINDOW_TAG = "ac_hygiene/window"
_DONE = {dg.DagsterRunStatus.SUCCESS}
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
#: A requested run that never appears (deleted, or its request dropped) is given up after this
#: long beyond one interval, and its window covered again by the next one.
LOST_AFTER = timedelta(hours=1)


def sensor_name(connection: str) -> str:
    return f"{connection}__new_contacts"


def job_name(connection: str) -> str:
    return f"{connection}__new_contacts_job"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _parse(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


@dataclass
class WatchCursor:
    """The watermark, and the window whose run is awaited (if any)."""

    watermark: datetime
    pending: dict[str, str] | None = field(default=None)

    @classmethod
    def load(cls, raw: str | None) -> WatchCursor | None:
        """The stored cursor; None if there is none or it is not one this sensor wrote."""
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        watermark = _parse(data.get("watermark"))
        if watermark is None:
            return None
        pending = data.get("pending")
        if pending is not None and not (
            isinstance(pending, dict)
            and isinstance(pending.get("key"), str)
            and _parse(pending.get("until")) is not None
            and _parse(pending.get("requested_at")) is not None
        ):
            pending = None
        return cls(watermark=watermark, pending=pending)

    def dump(self) -> str:
        return json.dumps(
            {"watermark": _iso(self.watermark), "pending": self.pending}, sort_keys=True
        )


def monthly_read_started(
    instance: dg.DagsterInstance, connection: str, month: str
) -> datetime | None:
    """When this month's read of the account began: the earliest start of a run that
    materialized `segment_contacts` for `month`, or None.

    Seam: once the month is read as one account snapshot (issue 10), point this at the
    snapshot asset's materializations instead.
    """
    key = dg.AssetKey([connection, "segment_contacts"])
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=500)
    run_ids = {
        r.run_id
        for r in records.records
        if r.partition_key is not None and str(r.partition_key).startswith(f"{month}|")
    }
    if not run_ids:
        return None
    runs = instance.get_run_records(dg.RunsFilter(run_ids=sorted(run_ids)))
    starts = [r.start_time for r in runs if r.start_time is not None]
    return datetime.fromtimestamp(min(starts), UTC) if starts else None


def _window_status(
    instance: dg.DagsterInstance,
    key: str,
    requested_at: datetime,
    now: datetime,
    interval: float,
    connection: str,
) -> str:
    """`done`, `failed` or `waiting`, from the runs tagged with the window.

    A run that failed after the window's plan was materialized (the auto-apply step refused by a
    guardrail, or an apply that must be re-run) has read and verified its window: it counts as
    done, so one refused plan never stalls the watch; its apply stays failed in the UI until a
    person re-runs it (with an override if they decide to).
    """
    runs = instance.get_runs(filters=dg.RunsFilter(tags={WINDOW_TAG: key}))
    statuses = {run.status for run in runs}
    if statuses & _DONE:
        return "done"
    if statuses and statuses <= _FAILED:
        planned = instance.get_materialized_partitions(dg.AssetKey([connection, NEW_CLEAN_PLAN]))
        return "done" if key in planned else "failed"
    if not statuses and now - requested_at > timedelta(hours=interval) + LOST_AFTER:
        return "failed"
    return "waiting"


def watch_tick(
    context: dg.SensorEvaluationContext,
    settings: ConnectionSettings,
    job: str,
    now: datetime | None = None,
) -> dg.SensorResult | dg.SkipReason:
    """One evaluation of the sensor (a function of its own so that tests can set the clock)."""
    connection = settings.name
    watch = settings.new_contacts
    overlap = timedelta(minutes=watch.overlap_minutes)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    cursor = WatchCursor.load(context.cursor)
    if cursor is None:
        if context.cursor:
            context.log.warning(
                f"{connection}: the cursor {context.cursor[:80]!r} is not one this sensor wrote; "
                "starting the watch again"
            )
        anchor = monthly_read_started(context.instance, connection, current_month(now))
        if anchor is None:
            cursor = WatchCursor(watermark=now)
            return dg.SensorResult(
                cursor=cursor.dump(),
                skip_reason=(
                    f"{connection}: no monthly read this month; watching for contacts created "
                    f"or changed from {now:%Y-%m-%d %H:%M:%S} UTC on"
                ),
            )
        cursor = WatchCursor(watermark=min(anchor, now))

    if cursor.pending is not None:
        pending = cursor.pending
        status = _window_status(
            context.instance,
            pending["key"],
            _parse(pending["requested_at"]) or now,
            now,
            watch.interval_hours,
            connection,
        )
        if status == "waiting":
            return dg.SkipReason(
                f"{connection}: the run of window {pending['key']} has not finished yet"
            )
        if status == "done":
            cursor.watermark = max(cursor.watermark, _parse(pending["until"]) or cursor.watermark)
        else:
            context.log.warning(
                f"{connection}: the run of window {pending['key']} failed or was lost; the next "
                "window starts where that one did, so none of its contacts is lost"
            )
        cursor.pending = None

    since = cursor.watermark - overlap
    if now <= since + overlap:
        return dg.SensorResult(cursor=cursor.dump(), skip_reason="no time has passed")
    resource: ActiveCampaignResource = getattr(
        context.resources, activecampaign_resource_key(connection)
    )
    if not resource.run(lambda client: changes_may_exist(client, since)):
        cursor.watermark = now
        return dg.SensorResult(
            cursor=cursor.dump(),
            skip_reason=f"{connection}: nothing created or changed since {since:%Y-%m-%d}",
        )
    window = ChangeWindow(since=since, until=now)
    key = window_key(window)
    cursor.pending = {"key": key, "until": _iso(now), "requested_at": _iso(now)}
    context.log.info(f"{connection}: requesting the run of window {key}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{connection}:new_contacts:{key}",
                job_name=job,
                partition_key=key,
                tags={CONNECTION_TAG: connection, MONTH_TAG: window.month, WINDOW_TAG: key},
            )
        ],
        dynamic_partitions_requests=[
            dg.AddDynamicPartitionsRequest(windows_name(connection), [key])
        ],
        cursor=cursor.dump(),
    )


def build_new_contacts_sensor(
    settings: ConnectionSettings, job: UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    connection = settings.name
    hours = settings.new_contacts.interval_hours

    @dg.sensor(
        name=sensor_name(connection),
        description=(
            f"Every {hours:g} h, verifies the contacts of {connection!r} created or changed since "
            "the last window (off by default: starting it spends credits between monthly runs)."
        ),
        jobs=[job],
        minimum_interval_seconds=max(60, math.floor(hours * 3600)),
        default_status=dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={activecampaign_resource_key(connection)},
    )
    def new_contacts_watch(
        context: dg.SensorEvaluationContext,
    ) -> dg.SensorResult | dg.SkipReason:
        return watch_tick(context, settings, job.name)

    return new_contacts_watch


@dataclass(frozen=True)
class WatchDefs:
    """Everything the watch adds to a connection (registered by `defs.connection`)."""

    assets: list[dg.AssetsDefinition]
    checks: list[dg.AssetChecksDefinition]
    job: UnresolvedAssetJobDefinition
    sensor: dg.SensorDefinition


def new_contacts_defs(settings: ConnectionSettings) -> WatchDefs:
    connection = settings.name
    keys = [dg.AssetKey([connection, name]) for name in window_asset_names(settings)]
    job = dg.define_asset_job(
        job_name(connection),
        selection=dg.AssetSelection.assets(*keys),
        # A window reads ActiveCampaign: one such run per account at a time (dagster.yaml).
        tags={CONNECTION_TAG: connection, ACTIVECAMPAIGN_TAG: connection},
        description=f"One new-contacts window of {connection!r}: read, verify, plan.",
    )
    return WatchDefs(
        assets=new_contacts_assets(settings),
        checks=new_contacts_checks(settings),
        job=job,
        sensor=build_new_contacts_sensor(settings, job),
    )
