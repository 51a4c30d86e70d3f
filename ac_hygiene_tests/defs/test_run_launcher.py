"""The shipped run launcher (ac_hygiene/defs/run_launcher.py): what makes forking it safe.

Launching, Terminate and a killed run on the real daemon are tested in test_killed_run.py.
"""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ac_hygiene.defs.run_launcher import PRELOAD, WarmRunLauncher

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, json, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({
    "threads": len(os.listdir("/proc/self/task")),
    "modules": sorted({m.split(".")[0] for m in sys.modules} & {"polars", "ac_hygiene"}),
}))
"""


def test_the_template_holds_no_thread_and_none_of_the_project() -> None:
    """A process with threads is not safe to fork (a lock held by another thread stays held in
    the child), and the project's code must be imported by each run, so that a reloaded code
    location takes effect: the template's imports start no thread and import neither Polars
    (which starts threads) nor ac_hygiene."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *PRELOAD], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found == {"threads": 1, "modules": []}


def test_the_shipped_instance_launches_with_it(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, WarmRunLauncher)
