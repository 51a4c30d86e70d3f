"""`ac-hygiene apply` / `restore` on a real instance and sandbox: dry run, refusal, override,
apply, undo one delete. Each step is checked in the sandbox account."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene_tests.defs.conftest import KEY_ENV, URL_ENV, Sandbox, definitions, shop

pytestmark = pytest.mark.usefixtures("env")


def _writes(sandbox: Sandbox) -> int:
    requests = sandbox.app.state.sandbox.stats.requests
    return sum(n for endpoint, n in requests.items() if not endpoint.startswith("GET"))


def test_dry_run_refusal_override_apply_and_restore(
    sandbox: Sandbox, env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "connections.yaml"
    config.write_text(
        f"connections: [{{name: shop, api_url_env: {URL_ENV}, api_key_env: {KEY_ENV}, "
        "max_change_share: 0.1}]"
    )
    monkeypatch.setenv("AC_HYGIENE_CONNECTIONS", str(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    month = current_month()
    partition = f"{month}|all"
    runner = CliRunner()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions("shop__segments", ["all"])
        execute(
            definitions(shop(max_change_share=0.1)),
            instance,
            dg.RunRequest(
                job_name="shop__segment_job", partition_key=month_segment_key(month, "all")
            ),
        )
    plan = pl.read_parquet(env / "tables" / "shop" / "clean_plan" / month / "all.parquet")
    deletes = plan.filter(pl.col("action") == "delete")["contact_id"].to_list()
    writes = _writes(sandbox)

    bad = runner.invoke(cli, ["apply", "--connection", "shop", "--partition", "2026-12"])
    assert bad.exit_code == 2 and "YYYY-MM|segment" in bad.output

    refused = runner.invoke(
        cli, ["apply", "--connection", "shop", "--partition", partition, "--dry-run"]
    )
    assert refused.exit_code == 6 and "change_share_exceeded" in refused.output

    dry = runner.invoke(
        cli,
        [
            "apply",
            "--connection",
            "shop",
            "--partition",
            partition,
            "--dry-run",
            "--override-guardrails",
            "reviewed",
        ],
    )
    assert dry.exit_code == 0, dry.output
    sent = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    assert sorted(
        int(r["request"].rsplit("/", 1)[1]) for r in sent if r["request"].startswith("DELETE")
    ) == sorted(deletes)
    assert _writes(sandbox) == writes  # the dry run sent nothing

    no = runner.invoke(cli, ["apply", "--connection", "shop", "--partition", partition])
    assert no.exit_code == 6, no.output
    assert "NOT applied" in no.output
    assert _writes(sandbox) == writes

    yes = runner.invoke(
        cli,
        [
            "apply",
            "--connection",
            "shop",
            "--partition",
            partition,
            "--override-guardrails",
            "first cleaning, reviewed",
        ],
    )
    assert yes.exit_code == 0, yes.output
    run_id = re.search(r"run ([0-9a-f-]{36})", yes.output).group(1)
    assert all(cid not in sandbox.account.contacts for cid in deletes)
    assert sandbox.api_key not in yes.output + dry.output

    one = runner.invoke(
        cli, ["restore", "--connection", "shop", "--run", run_id, "--contact", str(deletes[0])]
    )
    assert one.exit_code == 0, one.output
    new_id = int(one.stdout.split()[2])
    assert new_id in sandbox.account.contacts
    again = runner.invoke(
        cli, ["restore", "--connection", "shop", "--run", run_id, "--contact", str(deletes[0])]
    )
    assert again.exit_code == 0 and "already_present" in again.stdout
    missing = runner.invoke(cli, ["restore", "--connection", "shop", "--run", "nope"])
    assert missing.exit_code == 2 and "no backup for run" in missing.output
