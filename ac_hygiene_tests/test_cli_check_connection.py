"""`ac-hygiene check-connection` against the sandbox ActiveCampaign served on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from ac_hygiene.activecampaign.errors import (
    AccountInactive,
    AuthenticationFailed,
    InvalidApiKey,
    InvalidApiUrl,
    RetriesExhausted,
    Unreachable,
)
from ac_hygiene.activecampaign.limiter import forget_account_limiters
from ac_hygiene.cli import cli
from ac_hygiene.cli.check_connection import exit_code
from ac_hygiene.sandbox.activecampaign import create_app, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread

KEY = "c11" + "0badc0de" * 8 + "9f9f"
WRONG_KEY = "beefcafe" * 9


@pytest.fixture
def served() -> Iterator[tuple[str, object]]:
    forget_account_limiters()
    account = generate_account(42, seed=4, lists=3, tags=5)
    app = create_app(account, api_key=KEY, rate_limit=5.0)
    with serve_in_thread(app) as url:
        yield url, account
    forget_account_limiters()


def _run(url: str | None, key: str | None, *args: str, loopback: bool = True):
    env = {"AC_API_URL": url, "AC_API_KEY": key, "AC_ALLOW_LOOPBACK": "1" if loopback else None}
    return CliRunner().invoke(cli, ["check-connection", *args], env=env)


def _no_key(result, *keys: str) -> None:
    for key in keys:
        assert key not in result.output
        assert key[:-4] not in result.output


def test_connected(served) -> None:
    url, _ = served
    result = _run(url, f" {KEY}\n", "--name", "main")
    assert result.exit_code == 0, result.output
    assert "Connected 'main'" in result.output
    assert "Sandbox Admin" in result.output
    assert "Contacts: 42" in result.output
    assert "Lists: 3" in result.output
    assert "Tags: 5" in result.output
    _no_key(result, KEY)


def test_flags_work_too(served) -> None:
    url, _ = served
    result = CliRunner().invoke(
        cli,
        ["check-connection", "--api-url", url + "/api/3/", "--api-key", KEY],
        env={"AC_ALLOW_LOOPBACK": "1", "AC_API_URL": None, "AC_API_KEY": None},
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("url", "key", "message"),
    [
        ("http://acme.api-us1.com", KEY, "https://"),
        ("https://acme.example.com", KEY, "not an ActiveCampaign API host"),
        ("https://acme.api-us1.com", KEY[:20] + " " + KEY[20:], "spaces"),
        ("https://acme.api-us1.com", "", "No API key"),
        (None, KEY, "No API URL"),
    ],
)
def test_malformed_url_or_key_exits_2(url: str | None, key: str, message: str) -> None:
    result = _run(url, key)
    assert result.exit_code == 2
    assert message in result.output
    _no_key(result, KEY)


def test_loopback_needs_the_explicit_switch(served) -> None:
    url, _ = served
    result = _run(url, KEY, loopback=False)
    assert result.exit_code == 2
    assert "loopback" in result.output


def test_refused_key_exits_3_with_the_three_hints(served) -> None:
    url, _ = served
    result = _run(url, WRONG_KEY)
    assert result.exit_code == 3
    assert "API authentication failed" in result.output
    assert "without trailing whitespace" in result.output
    assert "admin permissions" in result.output
    assert "read-only users may not get a working key" in result.output
    assert "Regenerate the key" in result.output
    assert "Settings → Developer" in result.output
    _no_key(result, WRONG_KEY, KEY)


def test_unreachable_host_exits_4() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run(f"http://127.0.0.1:{port}", KEY)
    assert result.exit_code == 4
    assert "Cannot reach ActiveCampaign" in result.output
    _no_key(result, KEY)


def test_inactive_plan_exits_5(served) -> None:
    url, account = served
    account.active = False
    result = _run(url, KEY)
    assert result.exit_code == 5
    assert "inactive" in result.output
    _no_key(result, KEY)


def test_help_prefers_the_environment() -> None:
    result = CliRunner().invoke(cli, ["check-connection", "--help"])
    assert result.exit_code == 0
    assert "AC_API_KEY" in result.output
    assert "shell history" in result.output


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidApiUrl("x"), 2),
        (InvalidApiKey("x"), 2),
        (AuthenticationFailed("x"), 3),
        (Unreachable("x"), 4),
        (AccountInactive("x"), 5),
        (RetriesExhausted("x"), 1),
    ],
)
def test_every_command_maps_a_failure_to_the_same_exit_code(error: Exception, code: int) -> None:
    assert exit_code(error) == code
