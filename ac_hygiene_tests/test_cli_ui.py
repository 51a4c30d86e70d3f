"""`ac-hygiene with-demo` / `ui`: the demo's servers, reachable by the child, gone afterwards."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from ac_hygiene.cli.sandbox_env import load_settings, save_settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHILD = """
import os, sys, httpx
url, key = os.environ["AC_HYGIENE_DEMO_API_URL"], os.environ["AC_HYGIENE_DEMO_API_KEY"]
root = httpx.get(url + "/api/3/", headers={"Api-Token": key})
contacts = httpx.get(url + "/api/3/contacts", headers={"Api-Token": key}).json()
print(url, root.status_code, contacts["meta"]["total"], os.environ["AC_HYGIENE_DNS"],
      os.environ["DAGSTER_HOME"])
sys.exit(7)
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AC_", "DAGSTER_HOME"))}


def test_with_demo_serves_the_demos_account_to_the_command_and_stops_after(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    save_settings(data, contacts=37, seed=5)
    assert load_settings(data) == (37, 5, True)
    result = subprocess.run(
        [
            *(str(BIN / "ac-hygiene"), "with-demo", "--data-dir", str(data)),
            sys.executable,
            "-c",
            CHILD,
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 7, result.stderr[-3000:]  # the command's own exit code
    url, status, total, dns, home = result.stdout.split()
    assert status == "200" and total == "37"
    assert dns.startswith("127.") and home == str(data / "dagster_home")
    assert "37 contacts (seed 5)" in result.stderr
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:  # the sandbox stopped with the command
        assert s.connect_ex((host, int(port))) != 0
    # The generated key (64 hex digits) is never printed; its last 4 characters are.
    assert "key ****" in result.stderr
    assert not re.search(r"[0-9a-f]{32}", result.stdout + result.stderr)


def test_settings_fall_back_to_the_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == (2_000, 42, False)
    (tmp_path / "demo.json").write_text("{not json")
    assert load_settings(tmp_path) == (2_000, 42, False)


def test_ui_outside_the_project_says_where_to_run_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "ac-hygiene"), "ui", "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no workspace.yaml" in result.stderr and "./dev ui" in result.stderr
