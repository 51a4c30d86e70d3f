"""One segment run in a process of its own, so that a fault test can SIGKILL it mid-step.

    python -m ac_hygiene_tests.faults.segment_worker DAGSTER_HOME SEGMENT

The environment carries everything else, as for a run worker: FAULT_AC_API_URL / KEY, the
verifier's AC_HYGIENE_DNS / AC_HYGIENE_SMTP_PORT, AC_HYGIENE_DATA_DIR and FAULT_LEDGER_URL.
Exit code 0 when the run succeeded, 1 when it failed.
"""

from __future__ import annotations

import os
import sys

import dagster as dg

from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene_tests.faults.conftest import CONNECTION, fault_definitions

LEDGER_ENV = "FAULT_LEDGER_URL"


def main(home: str, segment: str) -> int:
    defs = fault_definitions(os.environ[LEDGER_ENV])
    with dg.DagsterInstance.from_config(home) as instance:
        request = dg.RunRequest(
            job_name=f"{CONNECTION}__segment_job",
            partition_key=month_segment_key(current_month(), segment),
        )
        result = execute(defs, instance, request)
    print(f"run {result.run_id} {'succeeded' if result.success else 'failed'}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
