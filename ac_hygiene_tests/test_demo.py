"""`ac-hygiene demo`: end to end twice on a fresh data directory, then what the UI reads."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.test_utils import create_run_for_test

from ac_hygiene.cli.demo import demo, recover_stale_runs
from ac_hygiene.defs.run_tags import DEMO_TAG

ROOT = Path(__file__).resolve().parents[1]


def run_demo(data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AC_", "DAGSTER_HOME"))}
    env["COLUMNS"] = "160"
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("ac-hygiene")),
            *("demo", "--contacts", "200", "--data-dir", str(data)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def figure(output: str, label: str) -> str:
    match = re.search(rf"{re.escape(label)}\s*│\s*([^│]+?)\s*│", output)
    assert match, f"{label!r} not in the summary:\n{output}"
    return match.group(1)


def test_demo_twice_is_idempotent_and_leaves_a_browsable_instance(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_demo(data)
    assert first.returncode == 0, first.stderr[-3000:]
    charged = int(figure(first.stdout, "credits charged by this run").split()[0].replace(",", ""))
    assert charged > 0
    assert int(figure(first.stdout, "contacts").replace(",", "")) == 200
    assert "./dev ui" in first.stdout and "http://127.0.0.1:3000" in first.stdout
    assert "materializing segment all" in first.stderr
    # The generated API key (64 hex digits) is never printed; its last 4 characters may be.
    assert not re.search(r"[0-9a-f]{32}", first.stdout + first.stderr)

    deleted = figure(first.stdout, "account after apply: deleted")
    done, planned = re.match(r"([\d,]+) of ([\d,]+) planned", deleted).groups()
    assert done == planned and int(planned) > 0
    assert "restored from backup" in first.stdout

    second = run_demo(data)
    assert second.returncode == 0, second.stderr[-3000:]
    again = figure(second.stdout, "credits charged by this run")
    assert again.startswith(f"0 ({charged:,} already charged this month")
    verified = figure(second.stdout, "addresses verified")
    assert int(re.search(r"\(([\d,]+) from cache", verified).group(1).replace(",", "")) > 0

    home = data / "dagster_home"
    assert (home / "dagster.yaml").resolve() == (ROOT / "dagster.yaml").resolve()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={DEMO_TAG: "true"}))
        # First demo: account tables, snapshot, segment `all`, report, apply; the second reuses
        # the month's snapshot: account tables, segment, report, apply (which sends nothing).
        assert len(runs) == 9 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        report = instance.get_latest_materialization_event(dg.AssetKey(["demo", "hygiene_report"]))
        assert report.asset_materialization.metadata["credits_used"].value == charged
        assert "all" in instance.get_dynamic_partitions("demo__segments")
    assert list((data / "tables" / "demo" / "clean_plan").glob("*/all.parquet"))


def test_runs_of_a_killed_demo_are_closed_and_their_slots_freed() -> None:
    with dg.instance_for_test() as instance:
        stale = create_run_for_test(
            instance,
            job_name="demo__segment_job",
            status=dg.DagsterRunStatus.STARTED,
            tags={DEMO_TAG: "true"},
        )
        other = create_run_for_test(
            instance, job_name="x", status=dg.DagsterRunStatus.STARTED, tags={}
        )
        storage = instance.event_log_storage
        storage.set_concurrency_slots("activecampaign-demo", 1)
        assert storage.claim_concurrency_slot("activecampaign-demo", stale.run_id, "s").is_claimed

        assert recover_stale_runs(instance) == 1
        assert instance.get_run_by_id(stale.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(other.run_id).status == dg.DagsterRunStatus.STARTED
        assert storage.get_concurrency_info("activecampaign-demo").active_slot_count == 0


def test_an_unusable_data_dir_or_home_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    result = CliRunner().invoke(demo, ["--contacts", "10", "--data-dir", str(blocker / "data")])
    assert result.exit_code == 1 and result.exception is not None
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"cannot use {blocker / 'data'} as the data directory" in result.output
    assert "--data-dir" in result.output

    monkeypatch.setenv("DAGSTER_HOME", str(blocker / "home"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(demo, ["--contacts", "10", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert f"cannot use {blocker / 'home'} as the Dagster home" in result.output
    assert "DAGSTER_HOME" in result.output
