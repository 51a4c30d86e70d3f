"""Killed runs heal: a run whose process died is marked failed within a minute.

Dagster's default run launcher (and the project's, run_launcher.py, which forks each run from a
template process) has no health check, so a run killed by the OOM killer or `kill -9` stays
STARTED for ever, and with it the run queue's ActiveCampaign slot of its account
(`ac_hygiene/activecampaign`, limit 1): every later run of the account would wait behind a dead
one. This sensor (on by default, every 20 s) looks at
the runs of our connections that are in progress, finds the process each one reported when it
started (Dagster's "Started process for run (pid: N)" event), and marks the run failed when that
process is gone (or is a zombie, or is another process that reused the number). Run retries
(dagster.yaml `run_retries`, run-level failures only) then launch it again, and the new run
resumes the interrupted read from its checkpoint.

It judges the runs whose process lived on this machine: those of the default launcher (their
start event), and those executed in a process of their own making (`dagster asset materialize`,
`ac-hygiene backfill`, the demo), which name their process in the run tag `ac_hygiene/process`
at their first step. Docker and Kubernetes launchers have Dagster's own run monitoring.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.launcher import DefaultRunLauncher

from ac_hygiene.defs.run_tags import CONNECTION_TAG, PROCESS_TAG

SENSOR_NAME = "ac_hygiene__run_health"
INTERVAL_S = 20
_IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    pid: int
    why: str


def _worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, time it was reported) of the run's process, from its latest start event."""
    found = None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = getattr(event, "engine_event_data", None) if event else None
        raw = (data.metadata or {}).get("pid") if data else None
        if raw is not None and "Started process" in (entry.message or ""):
            with contextlib.suppress(TypeError, ValueError):
                found = (int(getattr(raw, "value", raw)), entry.timestamp)
    return found


def _tagged_worker(tags: dict[str, str]) -> tuple[int, float] | None:
    """(pid, start time) from the run's process tag, if the process ran on this machine."""
    host, _, rest = tags.get(PROCESS_TAG, "").partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return None
    try:
        return int(pid), float(started)
    except ValueError:
        return None


def _process_gone(pid: int, reported_at: float) -> str | None:
    """Why the process is not the run's any more; None while it lives."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return f"process {pid} was killed (it is a zombie)"
        # A process started after the run reported its pid is another one with the same number.
        if process.create_time() > reported_at + 1:
            return f"process {pid} ended (the number now belongs to another process)"
    except psutil.NoSuchProcess:
        return f"process {pid} no longer exists"
    except psutil.Error:
        return None  # not ours to judge (e.g. no access)
    return None


def worker_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float] | None:
    """(pid, when it was reported) of the process executing `run` on this machine, if known."""
    launched_here = isinstance(instance.run_launcher, DefaultRunLauncher)
    worker = _worker(instance, run.run_id) if launched_here else None
    return worker or _tagged_worker(dict(run.tags))


def dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Runs of our connections in progress whose process is gone."""
    dead = []
    for run in instance.get_runs(dg.RunsFilter(statuses=_IN_PROGRESS)):
        if CONNECTION_TAG not in run.tags:
            continue
        worker = worker_of(instance, run)
        if worker is None:
            continue
        why = _process_gone(*worker)
        if why is not None:
            dead.append(DeadRun(run.run_id, worker[0], why))
    return dead


def heal(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Mark every dead run failed (freeing its queue slot); returns them."""
    healed = []
    for dead in dead_runs(instance):
        run = instance.get_run_by_id(dead.run_id)
        if run is None or run.status not in _IN_PROGRESS:
            continue
        instance.report_run_failed(
            run,
            f"The run's {dead.why}: it was killed (out of memory, kill -9, a machine restart). "
            "Marked failed so the account's other runs can proceed; a re-run resumes from the "
            "checkpoint.",
        )
        healed.append(dead)
    return healed


def run_health_sensor() -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        description=(
            "Marks failed the runs whose process died (the default run launcher has no health "
            "check), so a killed run never blocks its account's later runs."
        ),
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def run_health(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        healed = heal(context.instance)
        for dead in healed:
            context.log.warning(f"run {dead.run_id}: {dead.why}; marked failed")
        if healed:
            return dg.SkipReason(f"{len(healed)} dead run(s) marked failed")
        return dg.SkipReason("every run in progress is alive")

    return run_health
