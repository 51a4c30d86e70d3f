"""Running a connection's month without the daemon: the demo and the benchmark do this.

The plan comes from the real sensor, evaluated the way the daemon evaluates it (`evaluate_tick`
with the instance), and its requests become runs of the real jobs on the given instance, so the
runs, materializations, checks and partitions they leave are exactly what the UI shows for runs
the daemon would have launched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorExecutionData

from ac_hygiene.defs.partitions import SEGMENT
from ac_hygiene.defs.tags import CONNECTION_TAG, MONTH_TAG

#: Console logging of in-process runs: the progress lines, not every engine event.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def sensor_name(connection: str) -> str:
    return f"{connection}__monthly_plan"


@dataclass
class Tick:
    """One evaluation of the monthly sensor, its new segments already registered."""

    requests: list[dg.RunRequest]
    cursor: str | None
    registered: list[str]

    def of_job(self, job_name: str) -> list[dg.RunRequest]:
        return [r for r in self.requests if r.job_name == job_name]


def tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    connection: str,
    cursor: str | None = None,
) -> Tick:
    """Evaluate the connection's sensor once and apply its dynamic-partition requests."""
    # As a context manager: the instance the context opens from the ref is closed again (an open
    # one stays registered as Dagster's current state storage, past the life of its directory).
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(),
        cursor=cursor,
        resources=defs.resources,
        definitions=defs,
    ) as context:
        data: SensorExecutionData = defs.resolve_sensor_def(sensor_name(connection)).evaluate_tick(
            context
        )
    registered: list[str] = []
    for request in data.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            new = [
                k
                for k in request.partition_keys
                if not instance.has_dynamic_partition(request.partitions_def_name, k)
            ]
            instance.add_dynamic_partitions(request.partitions_def_name, new)
            registered += new
    return Tick(requests=list(data.run_requests or []), cursor=data.cursor, registered=registered)


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, object] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run one request of the sensor in this process (in-process executor) on `instance`."""
    job = defs.resolve_job_def(str(request.job_name))
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags={**(request.tags or {}), **(tags or {})},
        run_config=dict(run_config if run_config is not None else QUIET_RUN_CONFIG),
        raise_on_error=False,
    )


def segment_of(request: dg.RunRequest) -> str:
    key = request.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension[SEGMENT]
    return str(key)


@dataclass
class MonthRuns:
    """What `run_month` executed: each run's result by what it materialized."""

    results: dict[str, dg.ExecuteInProcessResult]
    segments: list[str]
    reports: list[dg.RunRequest]


def run_month(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    connection: str,
    tags: Mapping[str, str] | None = None,
    say: Callable[[str], None] | None = None,
    max_ticks: int = 5,
) -> MonthRuns:
    """The month as the daemon would run it, in this process: tick the sensor and execute what it
    requests (account tables, then the snapshot, then the segments) until it requests nothing, then
    the report that declarative automation would refresh after the plans."""
    from ac_hygiene.defs.connection import report_job_name

    results: dict[str, dg.ExecuteInProcessResult] = {}
    segments: list[str] = []
    cursor: str | None = None
    month: str | None = None
    for _ in range(max_ticks):
        planned = tick(defs, instance, connection, cursor)
        cursor = planned.cursor
        if not planned.requests:
            break
        for request in planned.requests:
            month = month or str(request.tags.get(MONTH_TAG, "")) or None
            name = _request_name(request)
            if name.startswith("segment "):
                segments.append(segment_of(request))
            if say is not None:
                say(f"materializing {name}")
            results[name.removeprefix("segment ")] = execute(defs, instance, request, tags)
            if not results[name.removeprefix("segment ")].success:
                break
    reports = []
    if month is not None and segments:
        report = dg.RunRequest(
            job_name=report_job_name(connection),
            partition_key=month,
            tags={CONNECTION_TAG: connection, MONTH_TAG: month},
        )
        if say is not None:
            say(f"materializing the hygiene report of {month}")
        results["report"] = execute(defs, instance, report, tags)
        reports.append(report)
    return MonthRuns(results=results, segments=segments, reports=reports)


def _request_name(request: dg.RunRequest) -> str:
    job = str(request.job_name)
    if job.endswith("__account_job"):
        return "account"
    if job.endswith("__snapshot_job"):
        return "snapshot"
    return f"segment {segment_of(request)}"
