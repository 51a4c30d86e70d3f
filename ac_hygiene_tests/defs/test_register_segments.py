"""`ac-hygiene register-segments`: every list and tag becomes a backfillable segment, and
nothing is run or charged."""

from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from ac_hygiene.cli import cli
from ac_hygiene_tests.defs.conftest import KEY_ENV, URL_ENV, Sandbox

pytestmark = pytest.mark.usefixtures("env")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "connections.yaml").write_text(
        f"connections: [{{name: shop, api_url_env: {URL_ENV}, api_key_env: {KEY_ENV}}}]"
    )
    return home


def test_every_list_and_tag_is_registered_once(sandbox: Sandbox, home: Path) -> None:
    stats = sandbox.app.state.sandbox.stats
    before = dict(stats.requests)
    first = CliRunner().invoke(cli, ["register-segments"])
    assert first.exit_code == 0, first.output
    lists, tags = len(sandbox.account.lists), len(sandbox.account.tags)
    assert f"shop: {lists} lists, {tags} tags; {3 + lists + tags} segment(s) registered" in (
        first.output
    )
    with dg.DagsterInstance.get() as instance:
        registered = set(instance.get_dynamic_partitions("shop__segments"))
        assert not instance.get_runs()  # nothing run, nothing charged
    assert registered == {
        "all",
        "untagged",
        "unlisted",
        *(f"list-{i}" for i in sandbox.account.lists),
        *(f"tag-{i}" for i in sandbox.account.tags),
    }
    made = {k: v - before.get(k, 0) for k, v in stats.requests.items() if v != before.get(k, 0)}
    assert sum(made.values()) <= 3  # the size, the lists and the tags

    again = CliRunner().invoke(cli, ["register-segments", "--connection", "shop"])
    assert again.exit_code == 0, again.output
    assert "0 segment(s) registered" in again.output


def test_an_unknown_connection_or_no_dagster_home_is_a_clear_error(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = CliRunner().invoke(cli, ["register-segments", "--connection", "nope"])
    assert unknown.exit_code == 2
    assert "no connection named 'nope'" in unknown.output
    monkeypatch.delenv("DAGSTER_HOME")
    no_home = CliRunner().invoke(cli, ["register-segments"])
    assert no_home.exit_code == 2
    assert "DAGSTER_HOME is not set" in no_home.output


def test_a_refused_key_exits_3_without_showing_it(
    sandbox: Sandbox, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "0123456789abcdef" * 4
    monkeypatch.setenv(KEY_ENV, wrong)
    result = CliRunner().invoke(cli, ["register-segments"])
    assert result.exit_code == 3
    assert wrong not in result.output and sandbox.api_key not in result.output
