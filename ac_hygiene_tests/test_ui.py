"""After `ac-hygiene demo`, `ac-hygiene ui` serves a UI a data team can work in.

Driven the way the UI drives Dagster, through its GraphQL API (and, for the pages, a headless
Chromium): the demo's sensor evaluations are visible as ticks, a Materialize of one list's three
segment assets succeeds and finds what the mail world knows about each address, the asset graph
and the `clean_plan` materialization render without an error, the sensor turned on in the UI is
evaluated by the daemon and launches nothing the demo already ran, and one interrupt stops
everything.

Chromium: Debian's `chromium` (or `$AC_HYGIENE_CHROMIUM`); without it the screenshot test is
skipped with the way to enable it, except under `AC_HYGIENE_REQUIRE_CHROMIUM=1` (CI), where it
fails.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import polars as pl
import pytest

from ac_hygiene.defs.local_runs import LOCATION_NAME, REPOSITORY_NAME, sensor_name
from ac_hygiene.defs.partitions import current_month
from ac_hygiene.sandbox.mailworld import MailWorld, default_world_path
from ac_hygiene.sandbox.mailworld.world import Mailbox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONTACTS = 200
CHROMIUM_ENV = "AC_HYGIENE_CHROMIUM"
REQUIRE_CHROMIUM_ENV = "AC_HYGIENE_REQUIRE_CHROMIUM"
SAVE_SCREENSHOTS_ENV = "AC_HYGIENE_SAVE_SCREENSHOTS"
SEGMENT_ASSETS = ("segment_contacts", "verifications", "clean_plan")
#: What Dagster's UI shows when a page or a query fails, and what our failures would say.
ERROR_MARKERS = (
    "An unexpected error occurred",
    "Unexpected GraphQL error",
    "Error loading",
    "failed to load",
    "Asset not found",
    "PythonError",
    "DagsterInvalidConfigError",
    "Traceback (most recent call last)",
)


@dataclass
class Ui:
    url: str
    data: Path
    process: subprocess.Popen
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AC_", "DAGSTER_HOME"))}
    env["COLUMNS"] = "160"
    return env


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    tmp = tmp_path_factory.mktemp("ui")
    data = tmp / "data"
    demo = subprocess.run(
        [str(BIN / "ac-hygiene"), "demo", "--contacts", str(CONTACTS), "--data-dir", str(data)],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    port = _free_port()
    log = tmp / "ui.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "ac-hygiene"), "ui", "--port", str(port), "--data-dir", str(data)],
            cwd=ROOT,
            env=_clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Ui(url=f"http://127.0.0.1:{port}", data=data, process=process, log=log)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, f"ac-hygiene ui exited:\n{running.log_tail()}"
            try:
                if httpx.get(f"{running.url}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"the UI did not come up:\n{running.log_tail()}"
            time.sleep(1)
        # Wait for the code location too (the first query would otherwise race its start-up).
        while True:
            entries = running.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name "
                "loadStatus locationOrLoadError { __typename } } } } }"
            )["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                break
            assert time.monotonic() < deadline, f"no code location:\n{running.log_tail()}"
            time.sleep(1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


SENSOR_TICKS = """
query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { status ticks(limit: 10) { status runIds runKeys } } } } }
"""
RUN = """
query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { status tags { key value } } } }
"""
LAUNCH = """
mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }
"""


def test_the_demos_sensor_evaluations_are_ticks_of_the_sensor(ui: Ui) -> None:
    month = current_month()
    selector = {
        "repositoryLocationName": LOCATION_NAME,
        "repositoryName": REPOSITORY_NAME,
        "sensorName": sensor_name("demo"),
    }
    sensor = ui.graphql(SENSOR_TICKS, {"s": selector})["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor
    # Still stopped (turning it on is the decision to spend credits), but not "never run".
    assert sensor["sensorState"]["status"] == "STOPPED"
    ticks = sensor["sensorState"]["ticks"]
    planning = [t for t in ticks if f"demo:{month}:all" in t["runKeys"]]
    assert planning and planning[-1]["status"] == "SUCCESS", ticks
    assert planning[-1]["runIds"], planning
    for run_id in planning[-1]["runIds"]:
        run = ui.graphql(RUN, {"id": run_id})["runOrError"]
        assert run["__typename"] == "Run" and run["status"] == "SUCCESS", run
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags["dagster/sensor_name"] == sensor_name("demo")
        assert tags["dagster/run_key"].startswith(f"demo:{month}:")
        assert tags["ac_hygiene/connection"] == "demo" and tags["ac_hygiene/month"] == month


def _a_list_segment(ui: Ui) -> str:
    with dg.DagsterInstance.from_config(str(ui.data / "dagster_home")) as instance:
        lists = [s for s in instance.get_dynamic_partitions("demo__segments") if s.startswith("l")]
    assert lists, "the demo registered no list segment"
    return sorted(lists, key=lambda s: int(s.split("-")[1]))[0]


def _wait_for_run(ui: Ui, run_id: str, timeout_s: float = 240) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = ui.graphql(RUN, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout_s} s:\n{ui.log_tail()}")


def test_materialize_one_list_from_the_ui_finds_what_the_mail_world_knows(ui: Ui) -> None:
    month, segment = current_month(), _a_list_segment(ui)
    partition = f"{month}|{segment}"
    # What the UI's Materialize button sends for three assets and one partition.
    params = {
        "selector": {
            "repositoryLocationName": LOCATION_NAME,
            "repositoryName": REPOSITORY_NAME,
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": ["demo", name]} for name in SEGMENT_ASSETS],
        },
        "mode": "default",
        "executionMetadata": {
            "tags": [
                {"key": "dagster/partition", "value": partition},
                {"key": "dagster/partition/month", "value": month},
                {"key": "dagster/partition/segment", "value": segment},
            ]
        },
    }
    launched = ui.graphql(LAUNCH, {"p": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert _wait_for_run(ui, run_id) == "SUCCESS", ui.log_tail()

    tables = ui.data / "tables" / "demo"
    list_id = int(segment.split("-")[1])
    contacts = pl.read_parquet(tables / "segment_contacts" / month / f"{segment}.parquet")
    assert contacts.height > 0
    assert all(
        list_id in (row["active_list_ids"] or []) + (row["unsubscribed_list_ids"] or [])
        for row in contacts.iter_rows(named=True)
    )
    plan = pl.read_parquet(tables / "clean_plan" / month / f"{segment}.parquet")
    assert sorted(plan["contact_id"]) == sorted(contacts["contact_id"])
    # An unsubscribe from a list backfill touches that list only.
    for ids in plan.filter(pl.col("action") == "unsubscribe")["list_ids"]:
        assert list(ids) == [list_id]

    world = MailWorld.load(default_world_path())
    results = pl.read_parquet(tables / "verifications" / month / f"{segment}.parquet")
    judged = 0
    for email, status in results.select("email", "status").iter_rows():
        local, _, domain = (email or "").rpartition("@")
        spec = world.domain(domain)
        if spec is None or not local:
            continue
        if spec.nxdomain:
            assert status == "undeliverable", email
        elif spec.has_mail_behaviour and not (
            spec.block or spec.greylist_seconds or spec.down or spec.catch_all
        ):
            truth = spec.classify(local)
            if truth == Mailbox.UNKNOWN:
                assert status == "undeliverable", email
            elif truth == Mailbox.MAILBOX:
                assert status in ("deliverable", "risky"), (email, status)
            else:
                continue
        else:
            continue
        judged += 1
    assert judged >= 5, f"only {judged} addresses of {segment} could be judged against the world"


def _chromium() -> str | None:
    return os.environ.get(CHROMIUM_ENV) or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def _page(browser: str, url: str, out: Path, profile: Path) -> str:
    """Load `url` headless; save a screenshot to `out`; return the rendered page's text."""
    common = [
        browser,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,760",
        "--virtual-time-budget=25000",
    ]
    shot = subprocess.run(
        [*common, f"--screenshot={out}", url], capture_output=True, text=True, timeout=180
    )
    assert shot.returncode == 0 and out.is_file(), shot.stderr[-2000:]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom.stdout, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


def test_asset_graph_and_clean_plan_render_without_an_error(
    ui: Ui, tmp_path_factory: pytest.TempPathFactory
) -> None:
    browser = _chromium()
    if browser is None:
        message = (
            "headless Chromium not found: install Debian's `chromium` (apt-get install chromium; "
            f".ci/run does) or point {CHROMIUM_ENV} at a Chrome/Chromium binary"
        )
        if os.environ.get(REQUIRE_CHROMIUM_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("screenshots")
    # The "join the community" dialog Dagster shows once on a local UI: dismissed the way the UI
    # dismisses it, so the screenshot shows the page.
    assert ui.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    month = current_month()
    pages = {
        "lineage": (
            f"{ui.url}/locations/{LOCATION_NAME}/asset-groups/demo/lineage",
            (
                "account_snapshot",
                "segment_contacts",
                "verifications",
                "clean_plan",
                "applied_actions",
                "hygiene_report",
            ),
        ),
        "clean_plan": (
            f"{ui.url}/assets/demo/clean_plan?view=events&partition={month}%7Call",
            (f"{month}|all", "by_category", "status", "plan_guard", "unsubscribe_scope"),
        ),
    }
    for name, (url, expected) in pages.items():
        text = _page(browser, url, out / f"{name}.png", out / f"profile-{name}")
        shown = [marker for marker in ERROR_MARKERS if marker in text]
        assert not shown, f"{name} page shows an error ({shown}): {text[:3000]}"
        missing = [word for word in expected if word not in text]
        assert not missing, f"{name} page lacks {missing}: {text[:3000]}"
        picture = (out / f"{name}.png").read_bytes()
        assert picture.startswith(b"\x89PNG") and len(picture) > 20_000
    target = os.environ.get(SAVE_SCREENSHOTS_ENV)
    if target:  # refresh the README's picture: AC_HYGIENE_SAVE_SCREENSHOTS=docs
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "lineage.png", Path(target) / "lineage.png")


START_SENSOR = """
mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
TICKS = """
query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {
  sensorState { ticks(limit: 5) { status timestamp runIds runKeys error { message } } } } } }
"""


def test_the_sensor_runs_from_the_ui_and_relaunches_nothing_the_demo_ran(ui: Ui) -> None:
    """Turned on in the UI, the daemon evaluates it with the demo's variables; the runs the demo
    made carry the same run keys, so the daemon launches none of them again."""
    month = current_month()
    selector = {
        "repositoryLocationName": LOCATION_NAME,
        "repositoryName": REPOSITORY_NAME,
        "sensorName": sensor_name("demo"),
    }
    started = time.time()
    result = ui.graphql(START_SENSOR, {"s": selector})["startSensor"]
    assert result["__typename"] == "Sensor", result
    assert result["sensorState"]["status"] == "RUNNING"
    deadline = time.monotonic() + 120
    while True:
        ticks = ui.graphql(TICKS, {"s": selector})["sensorOrError"]["sensorState"]["ticks"]
        done = [t for t in ticks if t["timestamp"] >= started - 1 and t["status"] != "STARTED"]
        if done:
            break
        assert time.monotonic() < deadline, f"the daemon never ticked:\n{ui.log_tail()}"
        time.sleep(2)
    tick = done[0]
    assert tick["error"] is None and tick["status"] == "SKIPPED", tick
    assert f"demo:{month}:all" in tick["runKeys"] and tick["runIds"] == []


RESOURCE = """
query($r: ResourceSelector!) { topLevelResourceDetailsOrError(resourceSelector: $r) {
  __typename ... on ResourceDetails { configuredValues { key value type } } } }
"""


def _child_env(pid: int) -> dict[str, str]:
    """The environment of `pid`'s child (`dagster dev`), read from /proc."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            raw = (proc / "environ").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
    raise AssertionError(f"no child process of {pid}")


def test_the_demos_key_reaches_the_runs_but_never_the_ui_or_the_log(ui: Ui) -> None:
    key = _child_env(ui.process.pid)["AC_HYGIENE_DEMO_API_KEY"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    resource = ui.graphql(
        RESOURCE,
        {
            "r": {
                "repositoryLocationName": LOCATION_NAME,
                "repositoryName": REPOSITORY_NAME,
                "resourceName": "activecampaign_demo",
            }
        },
    )["topLevelResourceDetailsOrError"]
    assert resource["__typename"] == "ResourceDetails", resource
    values = {v["key"]: v for v in resource["configuredValues"]}
    assert values["api_key"]["type"] == "ENV_VAR"
    assert values["api_key"]["value"] == "AC_HYGIENE_DEMO_API_KEY"
    assert key not in str(resource)
    assert key not in ui.log.read_text(errors="replace")
    assert key[-4:] in ui.log.read_text(errors="replace")  # the masked form names it


def _sandbox_port(log: str) -> int:
    match = re.search(r"sandbox API on http://127\.0\.0\.1:(\d+)", log)
    assert match, log
    return int(match.group(1))


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def _refuses(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_one_interrupt_stops_the_ui_and_the_servers(ui: Ui) -> None:
    """Last in this module: Ctrl-C once, and nothing is left running."""
    log = ui.log.read_text(errors="replace")
    api_port, ui_port = _sandbox_port(log), int(ui.url.rsplit(":", 1)[1])
    assert _processes_mentioning(str(ui.data)), "no process of the UI found"
    ui.process.send_signal(signal.SIGINT)
    assert ui.process.wait(timeout=90) == 0, ui.log_tail()
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(ui.data)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_mentioning(str(ui.data))
    assert _refuses(ui_port) and _refuses(api_port)
