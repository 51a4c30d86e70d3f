"""The code location from a connections configuration (also used by the demo and the tests)."""

from __future__ import annotations

import warnings

import dagster as dg

from ac_hygiene.config import ConnectionsConfig
from ac_hygiene.defs.connection_defs import connection_defs
from ac_hygiene.defs.io import ParquetIOManager
from ac_hygiene.defs.report_assets import report_automation_sensor
from ac_hygiene.defs.resources import LedgerResource, VerifierResource
from ac_hygiene.defs.run_health import run_health_sensor


def build_definitions(
    config: ConnectionsConfig,
    *,
    io_manager: dg.ConfigurableIOManagerFactory | None = None,
    verifier: VerifierResource | None = None,
    ledger: LedgerResource | None = None,
) -> dg.Definitions:
    """All connections' assets, checks, jobs and sensors, with the shared resources.

    The keyword arguments replace the default resources (e.g. a temporary table directory).
    """
    assets, checks, jobs, sensors = [], [], [], []
    resources: dict[str, object] = {
        "io_manager": io_manager or ParquetIOManager(),
        "verifier": verifier or VerifierResource(),
        "ledger": ledger or LedgerResource(),
    }
    for settings in config.connections:
        with warnings.catch_warnings():
            # Partitioned asset checks (preview) and the month mapping of the report (beta) are
            # deliberate: a check must validate the partition that was just written.
            warnings.simplefilter("ignore", dg.PreviewWarning)
            warnings.simplefilter("ignore", dg.BetaWarning)
            part = connection_defs(settings)
        assets += part.assets
        checks += part.checks
        jobs += part.jobs
        sensors += part.sensors
        resources.update(part.resources)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        sensors=[
            *sensors,
            report_automation_sensor([s.name for s in config.connections]),
            run_health_sensor(),
        ],
        resources=resources,
        # Each run is already its own process (the run launcher starts one per run), and a segment
        # run is one chain (contacts -> verifications -> plan, each with its checks): a process
        # per step would add seconds of interpreter start-up to every step for no parallelism.
        # Concurrency comes from runs executing side by side.
        executor=dg.in_process_executor,
    )
