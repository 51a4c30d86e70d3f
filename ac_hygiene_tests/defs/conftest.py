"""Real sandbox servers on loopback and code locations wired to them, for the Dagster tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from ac_hygiene.config import ConnectionsConfig, ConnectionSettings
from ac_hygiene.defs.build import build_definitions
from ac_hygiene.defs.io import ParquetIOManager
from ac_hygiene.defs.resources import LedgerResource, VerifierResource
from ac_hygiene.sandbox.activecampaign import SandboxAccount, create_app, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path

URL_ENV = "TEST_AC_API_URL"
KEY_ENV = "TEST_AC_API_KEY"
CONTACTS = 240
LISTS = 3
TAGS = 4


@dataclass
class Sandbox:
    account: SandboxAccount
    base_url: str
    api_key: str
    dns: str
    smtp_port: int
    app: object

    @property
    def requests(self) -> int:
        return self.app.state.sandbox.stats.total_requests


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """An ActiveCampaign sandbox (real 5 req/s limit) and the default mail world, per module."""
    account = generate_account(CONTACTS, seed=11, lists=LISTS, tags=TAGS)
    api_key = secrets.token_hex(32)
    app = create_app(account, api_key=api_key)
    world = MailWorld.load(default_world_path())
    with serve_in_thread(app) as base_url, MailWorldServer(world).run_in_thread() as mail:
        yield Sandbox(
            account=account,
            base_url=base_url,
            api_key=api_key,
            dns=f"{mail.dns_host}:{mail.dns_port}",
            smtp_port=mail.smtp_port,
            app=app,
        )


@pytest.fixture
def env(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a deployment would have: credentials, data directory, mail settings."""
    monkeypatch.setenv("AC_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv(URL_ENV, sandbox.base_url)
    monkeypatch.setenv(KEY_ENV, sandbox.api_key)
    monkeypatch.setenv("AC_HYGIENE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AC_HYGIENE_DNS", sandbox.dns)
    monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(sandbox.smtp_port))
    monkeypatch.delenv("AC_HYGIENE_TABLES", raising=False)
    monkeypatch.delenv("AC_HYGIENE_LEDGER_URL", raising=False)
    return tmp_path / "data"


def shop(**overrides: object) -> ConnectionSettings:
    """The test connection: credentials in TEST_AC_API_URL / TEST_AC_API_KEY.

    Generated sandbox accounts are about a fifth invalid or disposable by design, over the 20%
    default change limit: the pipeline tests raise it (the guardrail tests set their own).
    """
    overrides.setdefault("max_change_share", 0.5)
    return ConnectionSettings(
        name=str(overrides.pop("name", "shop")),
        api_url_env=URL_ENV,
        api_key_env=KEY_ENV,
        **overrides,  # type: ignore[arg-type]
    )


def definitions(*connections: ConnectionSettings, ledger_url: str | None = None) -> dg.Definitions:
    """The code location for `connections`, with tables and ledger under the data directory."""
    return build_definitions(
        ConnectionsConfig(connections=connections or (shop(),), source="test"),
        io_manager=ParquetIOManager(),
        verifier=VerifierResource(),
        ledger=LedgerResource(url=ledger_url or ""),
    )
