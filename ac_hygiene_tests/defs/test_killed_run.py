"""Runs of the shipped launcher on the real daemon path: a run killed with SIGKILL is marked failed
within a minute, its account free again, and the re-run resumes the read from the checkpoint
(issue 13, item 3); a run terminated from the UI ends CANCELED and frees the account."""

import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest

from ac_hygiene.defs.partitions import current_month
from ac_hygiene.sandbox.activecampaign import create_app, generate_account
from ac_hygiene.sandbox.activecampaign.faults import Faults
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONTACTS = 3000  # 30 pages, each slowed down: a read of ~15 s to kill in the middle


def wait_for(what: str, check, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def daemon_home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], object]]:
    account = generate_account(CONTACTS, seed=5)
    api_key = secrets.token_hex(32)
    app = create_app(account, api_key=api_key, faults=Faults(slow_s=0.3, p_slow=1.0))
    world = MailWorld.load(default_world_path())
    with serve_in_thread(app) as url, MailWorldServer(world).run_in_thread() as mail:
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")  # the project's instance
        shutil.copy(ROOT / "workspace.yaml", tmp_path / "workspace.yaml")
        (tmp_path / "connections.yaml").write_text(
            "connections: [{name: shop, api_url_env: SHOP_URL, api_key_env: SHOP_KEY}]"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AC_HYGIENE_", "DAGSTER"))}
        env |= {
            "DAGSTER_HOME": str(home),
            "AC_HYGIENE_CONNECTIONS": str(tmp_path / "connections.yaml"),
            "AC_HYGIENE_DATA_DIR": str(tmp_path / "data"),
            "AC_ALLOW_LOOPBACK": "1",
            "SHOP_URL": url,
            "SHOP_KEY": api_key,
            "AC_HYGIENE_DNS": f"{mail.dns_host}:{mail.dns_port}",
            "AC_HYGIENE_SMTP_PORT": str(mail.smtp_port),
        }
        yield tmp_path, env, app


def start_month(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """Switch the monthly sensor on and start the daemon, as a user does."""
    on = subprocess.run(
        [str(BIN / "dagster"), "sensor", "start", "shop__monthly_plan", "-w", "workspace.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert on.returncode == 0, on.stderr[-2000:]
    with (tmp_path / "daemon.log").open("w") as log:
        return subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_daemon(daemon: subprocess.Popen) -> None:
    os.killpg(daemon.pid, signal.SIGTERM)
    try:
        daemon.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(10)


def started_process(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run reported in Dagster's "Started process for run" event."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data
        if "Started process" in (entry.message or "") and "pid" in data.metadata:
            return int(data.metadata["pid"].value)
    return None


def test_terminate_stops_the_run_and_frees_the_account(daemon_home) -> None:
    """The UI's Terminate on a run of the shipped launcher (a process forked from the template):
    the run ends CANCELED, its process is gone, and the account's next run proceeds."""
    tmp_path, env, _app = daemon_home
    daemon = start_month(tmp_path, env)
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            assert type(instance.run_launcher).__name__ == "WarmRunLauncher"

            def snapshot_process() -> tuple[dg.DagsterRun, int] | None:
                for run in instance.get_runs():
                    if run.job_name == "shop__snapshot_job" and run.status.value == "STARTED":
                        pid = started_process(instance, run.run_id)
                        return (run, pid) if pid else None
                return None

            run, pid = wait_for("the snapshot run's process", snapshot_process, timeout=180)
            assert psutil.Process(pid).parent().pid != daemon.pid  # forked from the template
            assert instance.run_launcher.terminate(run.run_id)  # what Terminate in the UI calls
            wait_for(
                "the run to be canceled",
                lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED,
                timeout=60,
            )

            def gone() -> bool:
                try:
                    return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
                except psutil.NoSuchProcess:
                    return True

            wait_for("the run's process to end", gone, timeout=30)
            # The account tables' run waited behind the snapshot for the account: it runs now.
            wait_for(
                "the account run after the canceled snapshot",
                lambda: [
                    r
                    for r in instance.get_runs()
                    if r.job_name == "shop__account_job" and r.status == dg.DagsterRunStatus.SUCCESS
                ],
                timeout=120,
            )
    finally:
        stop_daemon(daemon)


def test_a_killed_snapshot_run_heals_and_resumes(daemon_home) -> None:
    tmp_path, env, app = daemon_home
    month = current_month()
    daemon = start_month(tmp_path, env)
    checkpoint = tmp_path / "data" / "checkpoints" / "shop" / month / "snapshot"
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:

            def snapshot_runs() -> list[dg.DagsterRun]:
                return [r for r in instance.get_runs() if r.job_name == "shop__snapshot_job"]

            def worker_pid() -> int | None:
                runs = [r for r in snapshot_runs() if r.status == dg.DagsterRunStatus.STARTED]
                if not runs or len(list(checkpoint.glob("*"))) < 4:  # a few pages stored
                    return None
                return started_process(instance, runs[0].run_id)

            pid = wait_for("the snapshot run to store pages", worker_pid, timeout=180)
            (killed,) = snapshot_runs()
            assert killed.tags["ac_hygiene/activecampaign"] == "shop"  # it holds the account
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()

            failed = wait_for(
                "the killed run to be marked failed",
                lambda: instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE,
                timeout=60,
            )
            assert failed and time.monotonic() - killed_at < 60

            # Run retries launch it again; the new run resumes after the stored pages.
            def retried() -> dg.DagsterRun | None:
                runs = [r for r in snapshot_runs() if r.run_id != killed.run_id]
                done = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
                return done[0] if done else None

            rerun = wait_for("the re-run to finish", retried, timeout=180)
            assert rerun.tags.get("dagster/parent_run_id") == killed.run_id
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(["shop", "account_snapshot"]), asset_partitions=[month]
                ),
                limit=1,
            ).records[0]
            metadata = {
                k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()
            }
            assert metadata["contacts"] == CONTACTS
            assert metadata["pages_from_checkpoint"] >= 3
            assert metadata["pages"] + metadata["pages_from_checkpoint"] == math.ceil(
                CONTACTS / 100
            )
            # Every page once, plus the empty page that ends a read of full pages, plus at most
            # the page in flight at the kill: the re-run did not start over.
            pages = app.state.sandbox.stats.requests.get("GET /api/3/contacts", 0)
            assert pages <= math.ceil(CONTACTS / 100) + 2

            # The account is not blocked: the month goes on (segment `all`).
            segment = wait_for(
                "the segment run after the snapshot",
                lambda: [
                    r
                    for r in instance.get_runs()
                    if r.job_name == "shop__segment_job" and r.status == dg.DagsterRunStatus.SUCCESS
                ],
                timeout=180,
            )
            assert segment[0].tags["ac_hygiene/month"] == month
            # Every run of the month, retried one included, is filterable by connection and month.
            for run in instance.get_runs():
                assert run.tags["ac_hygiene/connection"] == "shop", run.job_name
                assert run.tags["ac_hygiene/month"] == month, run.job_name
    finally:
        stop_daemon(daemon)
