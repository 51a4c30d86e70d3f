"""Running a connection's month without the daemon: the demo and the benchmark do this.

The plan comes from the real sensor, evaluated the way the daemon evaluates it (`evaluate_tick`
with the instance), and its requests become runs of the real jobs on the given instance, so the
runs, materializations, checks and partitions they leave are exactly what the UI shows for runs
the daemon would have launched:

- each evaluation is stored as a tick of the sensor (the sensor's page lists it, with the
  segments it registered, its cursor and the runs it requested; the sensor itself stays stopped);
- each run carries the sensor's name and the request's `run_key` as the daemon's runs do
  (`dagster/sensor_name`, `dagster/run_key`), besides the connection and month tags of the
  request, so a daemon started later this month sees those runs as already launched.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.definitions.selector import InstigatorSelector
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    DynamicPartitionsRequestResult,
    InstigatorType,
    TickData,
    TickStatus,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id

from ac_hygiene.defs.partitions import SEGMENT
from ac_hygiene.defs.run_tags import CONNECTION_TAG, MONTH_TAG

#: Console logging of in-process runs: the progress lines, not every engine event.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


#: The code location's name in workspace.yaml: the UI finds a sensor's ticks by (location,
#: repository, sensor name), so ticks stored under it show on the sensor's page of `./dev ui`.
LOCATION_NAME = "ac_hygiene"
REPOSITORY_NAME = "__repository__"  # the repository Dagster makes of a `Definitions` object


def sensor_name(connection: str) -> str:
    return f"{connection}__monthly_plan"


@dataclass
class Tick:
    """One evaluation of the monthly sensor, its new segments already registered.

    `run_ids` holds the id reserved for each request's run (by run key): the stored tick links to
    those runs, and `execute` gives each run its reserved id.
    """

    requests: list[dg.RunRequest]
    cursor: str | None
    registered: list[str]
    run_ids: dict[str, str] = field(default_factory=dict)

    def of_job(self, job_name: str) -> list[dg.RunRequest]:
        return [r for r in self.requests if r.job_name == job_name]

    def run_id(self, request: dg.RunRequest) -> str | None:
        return self.run_ids.get(str(request.run_key))


def sensor_origin(connection: str) -> RemoteInstigatorOrigin:
    """Where the sensor comes from, as `dagster dev -w workspace.yaml` loads it."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name="ac_hygiene.definitions",
        attribute="defs",
        working_directory=str(Path.cwd()),
    )
    location = InProcessCodeLocationOrigin(target, location_name=LOCATION_NAME)
    return RemoteInstigatorOrigin(
        repository_origin=RemoteRepositoryOrigin(location, REPOSITORY_NAME),
        instigator_name=sensor_name(connection),
    )


def sensor_selector_id(connection: str) -> str:
    return InstigatorSelector(
        location_name=LOCATION_NAME, repository_name=REPOSITORY_NAME, name=sensor_name(connection)
    ).get_id()


def _with_sensor_tags(request: dg.RunRequest, connection: str) -> dg.RunRequest:
    """The request as the daemon launches it: tagged with the sensor's name and the run key."""
    tags = {**(request.tags or {}), SENSOR_NAME_TAG: sensor_name(connection)}
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    with warnings.catch_warnings():
        # Re-validating the request's tags warns about Dagster's own `dagster/partition/<dim>`.
        warnings.simplefilter("ignore", DeprecationWarning)
        return request.with_replaced_attrs(tags=tags)


def record_tick(
    instance: dg.DagsterInstance,
    connection: str,
    started: float,
    data: SensorExecutionData,
    registered: list[str],
    run_ids: dict[str, str],
) -> None:
    """Store the evaluation as a tick of the sensor, as the daemon does after evaluating it."""
    requests = list(data.run_requests or [])
    partition_results = [
        DynamicPartitionsRequestResult(
            partitions_def_name=r.partitions_def_name,
            added_partitions=[k for k in r.partition_keys if k in registered],
            deleted_partitions=None,
            skipped_partitions=[k for k in r.partition_keys if k not in registered],
        )
        for r in data.dynamic_partitions_requests or []
        if isinstance(r, dg.AddDynamicPartitionsRequest)
    ]
    instance.create_tick(
        TickData(
            instigator_origin_id=sensor_origin(connection).get_id(),
            instigator_name=sensor_name(connection),
            instigator_type=InstigatorType.SENSOR,
            status=TickStatus.SUCCESS if requests else TickStatus.SKIPPED,
            timestamp=started,
            end_timestamp=time.time(),
            run_ids=list(run_ids.values()),
            run_keys=[str(r.run_key) for r in requests if r.run_key],
            skip_reason=None if requests else "every run of the month was already requested",
            cursor=data.cursor,
            selector_id=sensor_selector_id(connection),
            dynamic_partitions_request_results=partition_results,
        )
    )


def tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    connection: str,
    cursor: str | None = None,
) -> Tick:
    """Evaluate the connection's sensor once and apply its dynamic-partition requests."""
    started = time.time()
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
    requests = [_with_sensor_tags(r, connection) for r in data.run_requests or []]
    run_ids = {str(r.run_key): make_new_run_id() for r in requests if r.run_key}
    record_tick(instance, connection, started, data, registered, run_ids)
    return Tick(requests=requests, cursor=data.cursor, registered=registered, run_ids=run_ids)


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    request: dg.RunRequest,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, object] | None = None,
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Run one request of the sensor in this process (in-process executor) on `instance`.

    run_id: the id the tick reserved for it (`Tick.run_id(request)`), so the tick links to it.
    """
    job = defs.resolve_job_def(str(request.job_name))
    return job.execute_in_process(
        instance=instance,
        run_id=run_id,
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
    from ac_hygiene.defs.connection_defs import report_job_name

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
            results[name.removeprefix("segment ")] = execute(
                defs, instance, request, tags, run_id=planned.run_id(request)
            )
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
    if job.endswith("__apply_job"):
        return f"apply {segment_of(request)}"
    return f"segment {segment_of(request)}"
