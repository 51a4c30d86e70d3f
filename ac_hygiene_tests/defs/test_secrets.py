"""The API key never reaches the event log, run records, data files or what the UI is sent.

A month is run on a persistent instance, then a segment run with a refused key (so its error is
recorded too); afterwards every byte the instance and the data directory hold is searched for
either key, as is the code location's snapshot (what the webserver shows).
"""

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap

from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month
from ac_hygiene_tests.defs.conftest import KEY_ENV, Sandbox, definitions, shop
from ac_hygiene_tests.defs.test_pipeline import run_month

pytestmark = pytest.mark.usefixtures("env")
REFUSED_KEY = "refusedkey" + "7f3a" * 14


def files_containing(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle[:6]}..." for needle in needles if needle.encode() in data]
    return found


def test_no_key_in_instance_data_or_ui(
    sandbox: Sandbox, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [sandbox.api_key, REFUSED_KEY]
    defs = definitions(shop())
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        assert all(result.success for result in run_month(defs, instance).values())

        monkeypatch.setenv(KEY_ENV, REFUSED_KEY)
        refused = execute(  # the month's snapshot, read again with a refused key
            defs,
            instance,
            dg.RunRequest(job_name="shop__snapshot_job", partition_key=current_month()),
        )
        assert not refused.success
        failure = next(e for e in refused.all_events if e.is_step_failure)
        message = str(failure.event_specific_data.error.to_string())  # type: ignore[union-attr]
        assert "authentication failed" in message.lower()

        for run in instance.get_runs():
            text = repr(run.run_config) + repr(run.tags)
            for entry in instance.all_logs(run.run_id):
                text += entry.message + repr(entry.dagster_event)
            assert not [key for key in keys if key in text], f"a key in run {run.run_id}"

    ui_snapshot = dg.serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert KEY_ENV in ui_snapshot  # the variable's name is shown ...
    assert not [key for key in keys if key in ui_snapshot]  # ... never its value
    assert files_containing(home, keys) == []
    assert files_containing(env, keys) == []
