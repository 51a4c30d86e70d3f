"""The connections file: precedence, defaults, and errors that say what to fix."""

from pathlib import Path

import pytest

from ac_hygiene.config import (
    DEMO_CONNECTION,
    ConnectionsConfigError,
    load_connections,
    parse_connections,
)

GOOD = """
connections:
  - name: acme
    api_url_env: ACME_URL
    api_key_env: ACME_KEY
    segment_by: list
    threshold: 5000
    policy: {risky: unsubscribe, catch-all: unsubscribe}
    auto_apply: true
  - name: globex
    api_url_env: GLOBEX_URL
    api_key_env: GLOBEX_KEY
"""


def test_file_with_two_connections(tmp_path: Path) -> None:
    (tmp_path / "connections.yaml").write_text(GOOD)
    config = load_connections(env={}, cwd=tmp_path)
    acme, globex = config.connections
    assert (acme.name, acme.segment_by, acme.threshold, acme.auto_apply) == (
        "acme",
        "list",
        5000,
        True,
    )
    assert acme.policy.risky == "unsubscribe" and acme.policy.catch_all == "unsubscribe"
    assert acme.policy.disposable == "delete"  # untouched categories keep the defaults
    assert (globex.segment_by, globex.threshold, globex.auto_apply) == ("tag", 100_000, False)
    assert config.get("globex") is globex


def test_env_variable_points_at_the_file(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text(GOOD)
    (tmp_path / "connections.yaml").write_text("connections: [oops]")
    config = load_connections(env={"AC_HYGIENE_CONNECTIONS": "elsewhere.yaml"}, cwd=tmp_path)
    assert [c.name for c in config.connections] == ["acme", "globex"]


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionsConfigError, match="does not exist"):
        load_connections(env={"AC_HYGIENE_CONNECTIONS": "nope.yaml"}, cwd=tmp_path)


def test_single_connection_from_environment(tmp_path: Path) -> None:
    config = load_connections(
        env={"AC_API_URL": "https://x.api-us1.com", "AC_CONNECTION_NAME": "shop"}, cwd=tmp_path
    )
    (only,) = config.connections
    assert (only.name, only.api_url_env, only.api_key_env) == ("shop", "AC_API_URL", "AC_API_KEY")


def test_nothing_configured_gives_the_demo_connection(tmp_path: Path) -> None:
    (only,) = load_connections(env={}, cwd=tmp_path).connections
    assert only.name == DEMO_CONNECTION


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: Bad-Name, api_url_env: U, api_key_env: K}", "lowercase letters"),
        ("{name: a, api_url_env: U}", "`api_key_env` is missing"),
        ("{name: a, api_url_env: 'https://x.api-us1.com', api_key_env: K}", "NAME of an env"),
        ("{name: a, api_url_env: U, api_key_env: K, segment_by: field}", "`tag` or `list`"),
        ("{name: a, api_url_env: U, api_key_env: K, threshold: 0}", "positive number"),
        ("{name: a, api_url_env: U, api_key_env: K, auto_apply: 'yes'}", "true or false"),
        ("{name: a, api_url_env: U, api_key_env: K, policy: {unknown: delete}}", "refused"),
        ("{name: a, api_url_env: U, api_key_env: K, colour: red}", "unknown key"),
        ("{name: a, api_url_env: U, api_key_env: K, start_month: 2026-13}", "YYYY-MM"),
        ("{name: a, api_url_env: U, api_key_env: K, start_month: 202601}", "YYYY-MM"),
    ],
)
def test_bad_entries_are_explained(entry: str, message: str) -> None:
    import yaml

    with pytest.raises(ConnectionsConfigError, match=message) as raised:
        parse_connections({"connections": [yaml.safe_load(entry)]}, "connections.yaml")
    assert str(raised.value).startswith("connections.yaml: connection")


def test_duplicate_names_and_empty_files_are_refused() -> None:
    entry = {"name": "a", "api_url_env": "U", "api_key_env": "K"}
    with pytest.raises(ConnectionsConfigError, match="used twice"):
        parse_connections({"connections": [entry, entry]}, "f")
    with pytest.raises(ConnectionsConfigError, match="non-empty `connections` list"):
        parse_connections(None, "f")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text("connections: [\n")
    with pytest.raises(ConnectionsConfigError, match="not valid YAML"):
        load_connections(env={}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, api_url_env: K, api_key_env: K}", "both name K"),
        ("{name: a, api_url_env: U, api_key_env: K, policy: false}", "mapping of category"),
        ("{name: a, api_url_env: U, api_key_env: K, policy: ''}", "mapping of category"),
    ],
)
def test_entries_that_would_fail_silently_are_refused(entry: str, message: str) -> None:
    import yaml

    with pytest.raises(ConnectionsConfigError, match=message) as raised:
        parse_connections({"connections": [yaml.safe_load(entry)]}, "connections.yaml")
    assert str(raised.value).startswith("connections.yaml: connection 'a'")


def test_an_empty_policy_means_the_defaults() -> None:
    entry = {"name": "a", "api_url_env": "U", "api_key_env": "K", "policy": None}
    (only,) = parse_connections({"connections": [entry]}, "f").connections
    assert only.policy.invalid == "unsubscribe" and only.policy.disposable == "delete"


def test_unreadable_connections_files_name_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    with pytest.raises(
        ConnectionsConfigError, match="is a directory: point AC_HYGIENE_CONNECTIONS"
    ):
        load_connections(env={"AC_HYGIENE_CONNECTIONS": "conf"}, cwd=tmp_path)
    (tmp_path / "latin1.yaml").write_bytes("connections:\n  - name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConnectionsConfigError, match=r"latin1\.yaml: not a UTF-8 text file"):
        load_connections(env={"AC_HYGIENE_CONNECTIONS": "latin1.yaml"}, cwd=tmp_path)


def test_a_bad_connection_name_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    env = {"AC_API_URL": "https://x.api-us1.com", "AC_CONNECTION_NAME": "My Shop"}
    with pytest.raises(ConnectionsConfigError, match="AC_CONNECTION_NAME"):
        load_connections(env=env, cwd=tmp_path)


def test_start_month_is_fixed_and_configurable() -> None:
    from ac_hygiene.config import DEFAULT_START_MONTH

    entry = {"name": "a", "api_url_env": "U", "api_key_env": "K"}
    (default,) = parse_connections([entry], "f").connections
    assert default.start_month == DEFAULT_START_MONTH
    (set_up,) = parse_connections([{**entry, "start_month": "2026-09"}], "f").connections
    assert set_up.start_month == "2026-09"
