"""Tags every run of a connection at submission, so the run queue can limit it per account.

Runs reach the queue from the sensor, the UI (materialize, re-execute), backfills, declarative
automation and run retries. Job tags only cover runs of our own jobs; a manual materialization or a
backfill runs Dagster's implicit asset job, which has none. `HygieneRunCoordinator` (the queued run
coordinator, configured in dagster.yaml) therefore computes the tags from what the run will
materialize, before the run is queued:

- `ac_hygiene/connection`: the connection whose assets it selects (runs list filter);
- `ac_hygiene/month`: the month of its partition;
- `ac_hygiene/activecampaign`: set when the run will call the account's API (account tables, the
  snapshot, or a segment of a month with no snapshot yet). dagster.yaml limits runs with this tag
  to one per value: one ActiveCampaign run per account at a time, queued rather than waiting in a
  step, while the segment runs of a snapshot month verify side by side.

The same tags are written by the run itself at its first step (`tag_run`), for runs that never see
the queue (`dagster asset materialize`, the demo, tests).
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterable, Mapping

import dagster as dg
import psutil
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from ac_hygiene.defs.run_tags import ACTIVECAMPAIGN_TAG, CONNECTION_TAG, MONTH_TAG, PROCESS_TAG

log = logging.getLogger(__name__)

#: Assets whose materialization calls ActiveCampaign whatever the month holds.
API_ASSETS = frozenset(
    {"lists", "tags", "fields", "account_snapshot", "applied_actions", "new_contacts"}
)
#: Assets of each of the connection's jobs (`<connection>__<job>`), for runs without a selection.
JOB_ASSETS = {
    "account_job": ("lists", "tags", "fields"),
    "snapshot_job": ("account_snapshot",),
    "segment_job": ("segment_contacts", "verifications", "clean_plan"),
    "report_job": ("hygiene_report",),
    "apply_job": ("applied_actions",),
    "new_contacts_job": ("new_contacts", "new_verifications", "new_clean_plan"),
}
_MONTH = re.compile(r"\d{4}-\d{2}")


def run_assets(
    job_name: str, asset_keys: Iterable[dg.AssetKey] | None
) -> tuple[str | None, set[str]]:
    """(connection, asset names) a run materializes; connection None if not exactly one."""
    keys = [k for k in asset_keys or () if len(k.path) == 2]
    if keys:
        connections = {k.path[0] for k in keys}
        if len(connections) != 1:
            return None, set()
        return connections.pop(), {k.path[1] for k in keys}
    connection, _, job = job_name.partition("__")
    if connection and job in JOB_ASSETS:
        return connection, set(JOB_ASSETS[job])
    return None, set()


def partition_month(tags: Mapping[str, str]) -> str | None:
    """The month of a run's partition (single key, multi-partition key or range)."""
    candidates = [
        tags.get("dagster/partition/month"),
        tags.get("dagster/partition"),
        tags.get("dagster/asset_partition_range_start"),
        tags.get(MONTH_TAG),
    ]
    for value in candidates:
        for part in (value or "").split("|"):
            if _MONTH.fullmatch(part):
                return part
    return None


def reads_activecampaign(
    instance: dg.DagsterInstance, connection: str, assets: set[str], month: str | None
) -> bool:
    """Whether the run will call the account's API."""
    if assets & API_ASSETS:
        return True
    if "segment_contacts" not in assets:
        return False
    if month is None:  # a range or an unknown month: assume the worst
        return True
    from ac_hygiene.defs.snapshot_assets import snapshot_metadata

    return snapshot_metadata(instance, connection, month) is None


def hygiene_run_tags(
    instance: dg.DagsterInstance,
    job_name: str,
    asset_keys: Iterable[dg.AssetKey] | None,
    tags: Mapping[str, str],
) -> dict[str, str]:
    """The tags a run of ours should carry (empty for a run of something else)."""
    connection, assets = run_assets(job_name, asset_keys)
    if connection is None:
        return {}
    wanted = {CONNECTION_TAG: connection}
    month = partition_month(tags)
    if month is not None:
        wanted[MONTH_TAG] = month
    if reads_activecampaign(instance, connection, assets, month):
        wanted[ACTIVECAMPAIGN_TAG] = connection
    return wanted


def missing_tags(instance: dg.DagsterInstance, run: DagsterRun) -> dict[str, str]:
    wanted = hygiene_run_tags(instance, run.job_name, run.asset_selection, run.tags)
    return {k: v for k, v in wanted.items() if run.tags.get(k) != v}


def this_process() -> str:
    """`<host>:<pid>:<start time>`: names this process unambiguously (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def tag_run(context: dg.AssetExecutionContext) -> None:
    """Give the running run the connection and month tags if it lacks them (runs that never went
    through the queue: the CLI, the demo). Never fails the step."""
    try:
        run = context.run
        extra = {
            k: v
            for k, v in missing_tags(context.instance, run).items()
            if k != ACTIVECAMPAIGN_TAG  # only meaningful before the run starts
        }
        if PROCESS_TAG not in run.tags:
            extra[PROCESS_TAG] = this_process()
        if extra:
            context.instance.add_run_tags(run.run_id, extra)
    except Exception as exc:  # a tag is a convenience; the run's work is not
        context.log.warning(f"could not tag the run with its connection and month: {exc}")


def tag_before_queue(instance: dg.DagsterInstance, run: DagsterRun) -> DagsterRun:
    """Add the tags the run lacks; never stops a run from being queued."""
    try:
        extra = missing_tags(instance, run)
    except Exception:
        log.exception("ac_hygiene: could not compute the tags of run %s", run.run_id)
        return run
    if not extra:
        return run
    instance.add_run_tags(run.run_id, extra)
    return instance.get_run_by_id(run.run_id) or run


class HygieneRunCoordinator(QueuedRunCoordinator):
    """Dagster's queued run coordinator, tagging each run of ours before it is queued."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = tag_before_queue(self._instance, context.dagster_run)
        return super().submit_run(SubmitRunContext(run, context.workspace))
