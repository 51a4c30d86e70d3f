"""Run and asset tags shared by the sensor, the jobs, the run queue and the demo."""

from __future__ import annotations

#: Every run of a connection carries its name, so runs can be filtered per account.
CONNECTION_TAG = "ac_hygiene/connection"
#: The month (`YYYY-MM`) a run works on, when it works on one.
MONTH_TAG = "ac_hygiene/month"
#: Set (to the connection's name) on runs that call the ActiveCampaign API: the run queue lets one
#: such run per account proceed at a time (`tag_concurrency_limits` in dagster.yaml), which keeps
#: the account under its 5 requests/second without any step waiting in a loop.
ACTIVECAMPAIGN_TAG = "ac_hygiene/activecampaign"
#: Runs started by `ac-hygiene demo` (so a crashed demo's leftovers can be recognised).
DEMO_TAG = "ac_hygiene/demo"
#: `<host>:<pid>:<process start time>` of the process executing the run, written at its first
#: step, so that a run executed outside the run launcher (`dagster asset materialize`, the CLI)
#: can be judged dead by the run-health sensor too.
PROCESS_TAG = "ac_hygiene/process"
