"""The Dagster code location: `dagster dev -w workspace.yaml`, `dagster definitions validate`.

Connections come from the connections file or the environment (see `ac_hygiene.config`); only
their *names* of environment variables are read here, so the definitions load on any machine, and
a run that needs a missing variable fails at its start with a message naming it.
"""

from __future__ import annotations

from ac_hygiene.config import load_connections
from ac_hygiene.defs.build import build_definitions

defs = build_definitions(load_connections())
