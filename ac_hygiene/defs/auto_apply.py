"""Auto-apply: the monthly sensor's one hook into the apply step.

Only for a connection that sets `auto_apply: true`: every clean plan of the month that is
materialized and not applied yet gets an apply run (its `run_key` makes it once). The apply run
checks the guardrails itself, so a plan the blocking checks refuse fails there with the reason,
instead of being applied. With `auto_apply: false` (the default) this requests nothing, ever.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.partitions import MONTH, SEGMENT


def auto_apply_requests(
    context: dg.SensorEvaluationContext,
    settings: ConnectionSettings,
    apply_job: str | None,
    month: str,
    tags: Mapping[str, str],
) -> list[dg.RunRequest]:
    if not settings.auto_apply or apply_job is None:
        return []
    connection = settings.name
    instance = context.instance
    planned = instance.get_materialized_partitions(dg.AssetKey([connection, "clean_plan"]))
    applied = instance.get_materialized_partitions(dg.AssetKey([connection, "applied_actions"]))
    requests = []
    for key in sorted(planned - applied):
        key_month, _, segment = str(key).partition(
            "|"
        )  # `<month>|<segment>`, never a `|` in a segment
        if key_month != month or not segment:
            continue
        parsed = dg.MultiPartitionKey({MONTH: month, SEGMENT: segment})
        requests.append(
            dg.RunRequest(
                run_key=f"{connection}:{month}:apply:{segment}",
                job_name=apply_job,
                partition_key=parsed,
                tags=dict(tags),
            )
        )
    return requests
