"""Run and asset tags shared by the sensor, the jobs and the demo."""

from __future__ import annotations

#: Every run of a connection carries its name, so runs can be filtered (and limited) per account.
CONNECTION_TAG = "ac_hygiene/connection"
#: Runs started by `ac-hygiene demo` (so a crashed demo's leftovers can be recognised).
DEMO_TAG = "ac_hygiene/demo"
