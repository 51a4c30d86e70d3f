"""Killed runs, credits and secrets, with runs in processes of their own (issue 13).

- Killed (SIGKILL) during verification: the re-run charges exactly what a clean run charges.
- No API key in any file, database row or process listing of a deployment.
- Overlapping segments charge their shared addresses once.
- Killed during `segment_contacts`: the dead run is marked failed and its pool slot freed, and
  the next run of the connection succeeds, resuming (item 3; branch issue-10).
- Per-run "unknown refunded" counts add up to what the ledger holds (item 5; branch issue-11).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from ac_hygiene.defs.paths import checkpoint_dir
from ac_hygiene.defs.run_health import heal
from ac_hygiene.defs.run_tags import PROCESS_TAG
from ac_hygiene.hygiene.db import Database
from ac_hygiene.hygiene.ledger import CreditLedger, billing_key_expr
from ac_hygiene.hygiene.tables import verification_cache
from ac_hygiene.sandbox.activecampaign import Faults
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path
from ac_hygiene_tests.faults.conftest import CONNECTION, Api, Deployment, metadata, serve_account
from ac_hygiene_tests.faults.segment_worker import LEDGER_ENV

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
MONTH_FORMAT = "%Y-%m"


def month() -> str:
    from ac_hygiene.defs.partitions import current_month

    return current_month()


def persistent_home(tmp_path: Path) -> Path:
    """A Dagster home with the project's instance configuration (pools, run monitoring)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(f"{CONNECTION}__segments", ["all"])
    return home


def start_worker(deployment: Deployment, home: Path, segment: str = "all") -> subprocess.Popen:
    env = {**os.environ, LEDGER_ENV: deployment.ledger_url, "DAGSTER_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "ac_hygiene_tests.faults.segment_worker", str(home), segment],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def follow(process: subprocess.Popen) -> list[str]:
    """The process's output lines as they come (a reader thread appends to the list)."""
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def process_listing() -> str:
    """Every process's command line, as `ps -ef` would show it to any user of the machine."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process ended meanwhile
            continue
    return "\n".join(lines)


def checkpointed_pages(directory: Path) -> int:
    """Pages the extraction's checkpoint state records (0 before the first is committed)."""
    try:
        return int(json.loads((directory / "state.json").read_text())["pages"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for(condition, what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


def cache_rows(url: str) -> int:
    database = Database(url)  # the product's own engine set-up (driver, schema)
    try:
        query = sa.select(sa.func.count()).select_from(verification_cache)
        return int(database.run(lambda conn: conn.execute(query).scalar_one(), readonly=True))
    finally:
        database.dispose()


def credits_used(url: str) -> int:
    with CreditLedger(url) as ledger:
        return ledger.credits_used(CONNECTION, month())


def definite_keys(checked: pl.DataFrame) -> set[str]:
    definite = checked.filter(
        (pl.col("status") != "unknown") & pl.col("email").str.strip_chars().ne("")
    )
    return set(definite.select(billing_key_expr("email")).to_series().to_list())


def charged_keys(url: str) -> set[str]:
    with CreditLedger(url) as ledger:
        statement = ledger.statement(CONNECTION, month())
    return set(statement.filter(pl.col("charged"))["billing_key"].to_list())


@contextmanager
def slow_mail_world(deployment: Deployment, latency_s: float) -> Iterator[None]:
    """The healthy world, every DNS answer and SMTP reply `latency_s` late (a distant network)."""
    world = MailWorld.load(default_world_path())
    healthy = {name: os.environ.get(name) for name in ("AC_HYGIENE_DNS", "AC_HYGIENE_SMTP_PORT")}
    with MailWorldServer(world, latency_s=latency_s).run_in_thread() as mail:
        deployment.monkeypatch.setenv("AC_HYGIENE_DNS", f"{mail.dns_host}:{mail.dns_port}")
        deployment.monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(mail.smtp_port))
        try:
            yield
        finally:
            # Back to the healthy world: the slow one's servers stop with this block.
            for name, value in healthy.items():
                if value is None:
                    deployment.monkeypatch.delenv(name, raising=False)
                else:
                    deployment.monkeypatch.setenv(name, value)


def test_killed_during_verification_the_rerun_charges_what_a_clean_run_charges(
    deployment: Deployment, tmp_path: Path
) -> None:
    home = persistent_home(tmp_path)
    with slow_mail_world(deployment, latency_s=1.0):
        worker = start_worker(deployment, home)
        lines = follow(worker)
        try:
            wait_for(lambda: any("addresses verified" in line for line in lines), "verification")
        finally:
            kill(worker)
    assert worker.returncode == -signal.SIGKILL
    assert credits_used(deployment.ledger_url) == 0, "killed too late: charged already"

    rerun = start_worker(deployment, home)  # the healthy, fast world from here on
    output, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, output[-3000:]
    checked = deployment.table("verifications")
    assert charged_keys(deployment.ledger_url) == definite_keys(checked)
    assert credits_used(deployment.ledger_url) == len(definite_keys(checked))


def test_no_api_key_in_files_databases_or_process_listings(
    deployment: Deployment, api: Api, tmp_path: Path
) -> None:
    home = persistent_home(tmp_path)
    listings: list[str] = []
    with slow_mail_world(deployment, latency_s=0.05):
        worker = start_worker(deployment, home)
        output = follow(worker)
        try:
            while worker.poll() is None:
                listings.append(process_listing())
                time.sleep(0.5)
        finally:
            kill(worker)
    assert worker.returncode == 0, "".join(output)[-3000:]
    assert len(listings) >= 2
    assert all("faults.segment_worker" in listing for listing in listings[:1])  # it was seen
    key = api.api_key.encode()
    assert not [n for n, listing in enumerate(listings) if api.api_key in listing]

    leaks = []
    for root in (home, deployment.data):
        for path in root.rglob("*"):
            if path.is_file() and key in path.read_bytes():
                leaks.append(str(path))
    assert leaks == []

    def dump(conn: sa.Connection) -> dict[str, str]:
        names = sa.inspect(conn).get_table_names()
        return {n: repr(conn.execute(sa.text(f'SELECT * FROM "{n}"')).all()) for n in names}

    database = Database(deployment.ledger_url)
    try:
        tables = database.run(dump, readonly=True)
    finally:
        database.dispose()
    assert {"verification_cache", "credit_charges"} <= set(tables)
    assert [name for name, text in tables.items() if api.api_key in text] == []


def test_overlapping_segments_charge_shared_addresses_once(
    deployment: Deployment, api: Api
) -> None:
    by_tag: dict[int, set[int]] = {}
    for row in api.account.contact_tags.values():
        by_tag.setdefault(row.tag, set()).add(row.contact)
    (a, first), (b, second) = sorted(by_tag.items(), key=lambda kv: -len(kv[1]))[:2]
    assert first & second, "the generated account has no overlapping tags: the case is empty"

    defs = deployment.definitions()
    charged_per_run = 0
    segments = [f"tag-{a}", f"tag-{b}"]
    checked = []
    with dg.DagsterInstance.ephemeral() as instance:
        for segment in segments:
            result = deployment.run_segment(defs, instance, segment)
            assert result.success
            charged_per_run += metadata(result, "verifications")["credits_charged"]
            checked.append(deployment.table("verifications", segment))
    both = pl.concat(checked)
    shared = definite_keys(checked[0]) & definite_keys(checked[1])
    assert shared
    assert credits_used(deployment.ledger_url) == len(definite_keys(both))
    assert charged_per_run == len(definite_keys(both))  # the shared ones once, by one run


def test_a_run_killed_during_extraction_heals_and_the_next_run_resumes(
    deployment: Deployment, api: Api, tmp_path: Path
) -> None:
    home = persistent_home(tmp_path)
    # A slow API (1.5 s an answer) so that the kill lands inside segment_contacts; the same
    # server serves the re-run, since the checkpoint belongs to the account's API URL.
    api_key, app, server = serve_account(api.account, faults=Faults(p_slow=1.0, slow_s=1.5))
    with server as base_url:
        deployment.point_at(Api(api.account, base_url, api_key, app))
        worker = start_worker(deployment, home)
        follow(worker)
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                wait_for(
                    lambda: any(PROCESS_TAG in r.tags for r in instance.get_runs()),
                    "segment_contacts to start reading the account",
                )
            checkpoint = checkpoint_dir(CONNECTION, month(), "all")
            wait_for(lambda: checkpointed_pages(checkpoint) >= 1, "a checkpointed page")
        finally:
            kill(worker)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (dead,) = instance.get_runs()
            assert dead.status == dg.DagsterRunStatus.STARTED  # nobody told Dagster
            healed = heal(instance)  # what the run-health sensor does every 20 s
            assert [h.run_id for h in healed] == [dead.run_id]
            assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        rerun = start_worker(deployment, home)
        try:
            output, _ = rerun.communicate(timeout=90)  # "within a minute", plus the run itself
        except subprocess.TimeoutExpired:
            kill(rerun)
            pytest.fail("the next run of the connection waited on the dead run")
    assert rerun.returncode == 0, output[-3000:]
    assert "from checkpoint" in output or "from the checkpoint" in output  # resumed, not redone
    contacts = deployment.table("segment_contacts")
    assert sorted(contacts["contact_id"].to_list()) == sorted(api.account.contacts)


def test_refunded_unknowns_per_run_add_up_to_the_ledger(deployment: Deployment) -> None:
    defs = deployment.definitions()
    refunded_per_run = []
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):  # a re-run in the same month: the unknowns are verified again
            result = deployment.run_segment(defs, instance)
            assert result.success
            refunded_per_run.append(metadata(result, "verifications")["credits_refunded_unknown"])
    assert refunded_per_run[0] > 0, "no unknown result: the case is empty"
    with CreditLedger(deployment.ledger_url) as ledger:
        statement = ledger.statement(CONNECTION, month())
    refunded_in_ledger = statement.filter(~pl.col("charged")).height
    assert sum(refunded_per_run) == refunded_in_ledger
