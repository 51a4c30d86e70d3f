"""The code location: it loads anywhere, reads like the business, and shows no secret."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap

from ac_hygiene.config import load_connections
from ac_hygiene.defs.build import build_definitions

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = """
connections:
  - name: acme
    api_url_env: ACME_AC_API_URL
    api_key_env: ACME_AC_API_KEY
  - name: globex
    api_url_env: GLOBEX_AC_API_URL
    api_key_env: GLOBEX_AC_API_KEY
    segment_by: list
"""


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AC_", "ACME_", "GLOBEX_", "DAGSTER_HOME"))
    }
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    return {**env, "DAGSTER_HOME": str(home), **extra}


@pytest.mark.parametrize("with_file", [False, True], ids=["demo-default", "connections-file"])
def test_dagster_definitions_validate(tmp_path: Path, with_file: bool) -> None:
    """The CI command, in a subprocess, with none of the credentials in the environment."""
    extra = {}
    if with_file:
        (tmp_path / "connections.yaml").write_text(CONNECTIONS)
        extra["AC_HYGIENE_CONNECTIONS"] = str(tmp_path / "connections.yaml")
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            *("definitions", "validate", "-w", str(ROOT / "workspace.yaml")),
        ],
        cwd=ROOT,
        env=clean_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "All code locations passed validation" in completed.stderr + completed.stdout


def test_assets_per_connection_with_lineage(tmp_path: Path) -> None:
    (tmp_path / "connections.yaml").write_text(CONNECTIONS)
    defs = build_definitions(load_connections(env={}, cwd=tmp_path))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for name in ("acme", "globex"):
        assert {
            f"{name}/{t}"
            for t in (
                "lists",
                "tags",
                "fields",
                "account_snapshot",
                "segment_contacts",
                "verifications",
                "clean_plan",
                "hygiene_report",
            )
        } <= keys
        node = graph.get(dg.AssetKey([name, "segment_contacts"]))
        # No step waits for a pool slot: ActiveCampaign runs are limited per account by the run
        # queue, through the tag their jobs (or the queue) give them.
        for table in ("segment_contacts", "account_snapshot", "lists", "verifications"):
            assert defs.resolve_assets_def(dg.AssetKey([name, table])).op.pool is None
        for job, calls_api in [
            ("account_job", True),
            ("snapshot_job", True),
            ("segment_job", False),
            ("report_job", False),
        ]:
            tags = defs.resolve_job_def(f"{name}__{job}").tags
            assert tags["ac_hygiene/connection"] == name
            assert (tags.get("ac_hygiene/activecampaign") == name) is calls_api
        assert {
            p.to_user_string() for p in graph.get(dg.AssetKey([name, "clean_plan"])).parent_keys
        } == {
            f"{name}/segment_contacts",
            f"{name}/verifications",
        }
        partitions = node.partitions_def
        assert isinstance(partitions, dg.MultiPartitionsDefinition)
        assert {d.name for d in partitions.partitions_defs} == {"month", "segment"}
        segment_dim = next(d for d in partitions.partitions_defs if d.name == "segment")
        assert segment_dim.partitions_def.name == f"{name}__segments"
        assert defs.resolve_sensor_def(f"{name}__monthly_plan").default_status == (
            dg.DefaultSensorStatus.STOPPED
        )
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("acme/clean_plan", "plan_matches_segment") in checks
    assert ("acme/verifications", "every_email_verified") in checks
    assert ("globex/segment_contacts", "matches_schema") in checks


def test_credentials_never_reach_the_ui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the UI receives names the environment variables, never their values."""
    secret = "f00dfeedcafe" * 6
    monkeypatch.setenv("ACME_AC_API_URL", "https://acme.api-us1.com")
    monkeypatch.setenv("ACME_AC_API_KEY", secret)
    (tmp_path / "connections.yaml").write_text(CONNECTIONS)
    defs = build_definitions(load_connections(env={}, cwd=tmp_path))
    shown = dg.serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "ACME_AC_API_KEY" in shown
    assert secret not in shown

    resource = defs.resources["activecampaign_acme"]
    configured = resource.process_config_and_initialize()
    assert configured.api_key == secret  # it does reach the run...
    assert secret not in repr(configured)  # ...but not its repr
    assert secret not in repr(configured.connection())
