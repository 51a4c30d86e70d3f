"""Run processes forked from a warm template instead of started cold.

Dagster's default run launcher asks the code server to start every run as a fresh Python process
("spawn"), which imports Dagster, Polars, SQLAlchemy and the rest again before the first step:
about 1.5 CPU-seconds a run. A monthly hygiene of a segmented account is a dozen short runs
(each segment's verification is mostly cache hits after the snapshot's warm-up) on a machine
whose cores the runs already saturate, so those imports are a large share of the month.

This launcher forks each run from a template process (Python's `forkserver`) that imported the
*third-party* libraries once. The project's own code is not in the template: each run imports
the code location afresh, exactly as `dagster api execute_run` does (the entry point Dagster's
Docker and Kubernetes launchers use), so reloading the code location in the UI takes effect on
the next run. The template holds no threads and no connections (see PRELOAD), so forking it is
safe.

Everything else is the default launcher's: a run reports "Started process for run (pid: N)" (the
`ac_hygiene__run_health` sensor watches that process), Terminate sends the run process the
interrupt Dagster's own termination sends, and runs that were launched by the default launcher
are still terminated through their code server.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Self

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import deserialize_value, serialize_value
from dagster._serdes.config_class import ConfigurableClassData

from ac_hygiene.defs.run_health import worker_of

#: What the template imports once: the libraries every run needs, none of the project's code.
#: Not Polars: importing it starts threads (jemalloc's, an out-of-core cleaner), and a process
#: with threads is not one to fork; each run imports it (a fifth of a second) after the fork.
PRELOAD = (
    "dagster",
    "dagster._cli.api",
    "dagster._core.execution.api",
    "sqlalchemy",
    "alembic",
    "httpx",
    "pandera",
    "email_validator",
    "dns.asyncresolver",
    "psutil",
    "upath",
)


class WarmRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher, with each run forked from a pre-imported template process."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(inst_data=inst_data)
        self._lock = threading.Lock()
        self._context: BaseContext | None = None
        self._processes: dict[str, BaseProcess] = {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Any) -> Self:
        return cls(inst_data=inst_data)

    def _forkserver(self) -> BaseContext:
        with self._lock:
            if self._context is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(list(PRELOAD))
                self._context = context
            return self._context

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:  # not launched from a code location: Dagster's way
            super().launch_run(context)
            return
        process = self._forkserver().Process(
            target=execute_run,
            args=(run.run_id, serialize_value(self._instance.get_ref())),
            name=f"dagster-run-{run.run_id[:8]}",
        )
        process.start()
        with self._lock:
            # Reap the runs that ended, so no zombie outlives its run.
            for run_id, ended in [(r, p) for r, p in self._processes.items() if not p.is_alive()]:
                ended.join(0)
                del self._processes[run_id]
            self._processes[run.run_id] = process
        self._run_ids.add(run.run_id)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if GRPC_INFO_TAG in run.tags:  # launched by the default launcher: its code server
            return super().terminate(run_id)
        worker = worker_of(self._instance, run)
        self._instance.report_run_canceling(run)
        if worker is None:
            self._instance.report_engine_event(
                "The run's process has not started yet: it stops as it starts.", run
            )
            return True
        with contextlib.suppress(ProcessLookupError):
            # What Dagster's termination does inside the run process: an interrupt, which the
            # run turns into a clean stop (the step in flight is interrupted, the run CANCELED).
            os.kill(worker[0], signal.SIGINT)
        return True


def execute_run(run_id: str, instance_ref: str) -> None:
    """The body of `dagster api execute_run`, in a process forked from the template."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    with capture_interrupts():
        ref = deserialize_value(instance_ref, InstanceRef)
        with dg.DagsterInstance.from_ref(ref) as instance:
            run = instance.get_run_by_id(run_id)
            if run is not None and run.status == dg.DagsterRunStatus.CANCELING:
                instance.report_run_canceled(run, "Terminated before its process started.")
                return
            code = _execute_run_command_body(
                run_id, instance, write_stream_fn=lambda _event: None, set_exit_code_on_failure=True
            )
    if code:
        os._exit(code)
