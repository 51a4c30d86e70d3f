"""The fault suite's world: real sandbox servers on loopback, broken ones beside them, and a
fresh PostgreSQL database per test for the credits ledger and the verification cache.

- `healthy`: the default mail world (DNS + SMTP), the truth every verdict is scored against.
- `nxdomain`: a DNS server that answers NXDOMAIN for every name (a captive or misconfigured
  resolver), made from a world that knows one dead domain and nothing else.
- `unreachable`: a loopback UDP port where nothing listens (a DNS outage: every query refused).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.config import ConnectionsConfig, ConnectionSettings
from ac_hygiene.defs.build import build_definitions
from ac_hygiene.defs.io import ParquetIOManager
from ac_hygiene.defs.local_runs import execute
from ac_hygiene.defs.partitions import current_month, month_segment_key
from ac_hygiene.defs.resources import LedgerResource, VerifierResource
from ac_hygiene.sandbox.activecampaign import SandboxAccount, create_app, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene.sandbox.mailworld import MailWorld, MailWorldServer, default_world_path
from ac_hygiene_tests.hygiene.conftest import pg_url  # noqa: F401  (a fixture, re-exported)

URL_ENV = "FAULT_AC_API_URL"
KEY_ENV = "FAULT_AC_API_KEY"
CONNECTION = "shop"
CONTACTS = 400
SEED = 13


@dataclass(frozen=True)
class Resolvers:
    healthy: str
    nxdomain: str
    unreachable: str
    smtp_port: int


@dataclass
class Api:
    account: SandboxAccount
    base_url: str
    api_key: str
    app: object


def free_udp_port() -> int:
    """A loopback UDP port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def resolvers() -> Iterator[Resolvers]:
    healthy = MailWorld.load(default_world_path())
    empty = MailWorld.from_dict({"domains": {"nothing-here.test": {"nxdomain": True}}})
    with (
        MailWorldServer(healthy).run_in_thread() as mail,
        MailWorldServer(empty, smtp_port=0).run_in_thread() as broken,
    ):
        yield Resolvers(
            healthy=f"{mail.dns_host}:{mail.dns_port}",
            nxdomain=f"{broken.dns_host}:{broken.dns_port}",
            unreachable=f"127.0.0.1:{free_udp_port()}",
            smtp_port=mail.smtp_port,
        )


def serve_account(account: SandboxAccount, **app_options: object):
    api_key = secrets.token_hex(32)
    app = create_app(account, api_key=api_key, **app_options)  # type: ignore[arg-type]
    return api_key, app, serve_in_thread(app)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    """A generated account of 400 contacts behind the sandbox API (real 5 req/s limit)."""
    account = generate_account(CONTACTS, seed=SEED, lists=3, tags=4)
    api_key, app, server = serve_account(account)
    with server as base_url:
        yield Api(account=account, base_url=base_url, api_key=api_key, app=app)


def fault_definitions(ledger_url: str, **settings: object) -> dg.Definitions:
    """The code location of the suite: one connection, credentials in FAULT_AC_API_URL/KEY."""
    # The generated accounts are ~22% invalid or disposable by design (over the 20% default of
    # the change-share guardrail); the suite tests faults, not that guardrail.
    settings = {"max_change_share": 0.5, **settings}
    connection = ConnectionSettings(
        name=CONNECTION,
        api_url_env=URL_ENV,
        api_key_env=KEY_ENV,
        **settings,  # type: ignore[arg-type]
    )
    return build_definitions(
        ConnectionsConfig(connections=(connection,), source="fault suite"),
        io_manager=ParquetIOManager(),
        verifier=VerifierResource(),
        ledger=LedgerResource(url=ledger_url),
    )


@dataclass
class Deployment:
    """One deployment of the code location: its environment, ledger database and data dir."""

    monkeypatch: pytest.MonkeyPatch
    data: Path
    ledger_url: str
    resolvers: Resolvers

    def point_at(self, api: Api) -> None:
        self.monkeypatch.setenv(URL_ENV, api.base_url)
        self.monkeypatch.setenv(KEY_ENV, api.api_key)

    def resolver(self, which: str) -> None:
        """Point the verifier at the `healthy`, `nxdomain` or `unreachable` resolver."""
        self.monkeypatch.setenv("AC_HYGIENE_DNS", getattr(self.resolvers, which))

    def definitions(self, **settings: object) -> dg.Definitions:
        return fault_definitions(self.ledger_url, **settings)

    def run_segment(
        self, defs: dg.Definitions, instance: dg.DagsterInstance, segment: str = "all"
    ) -> dg.ExecuteInProcessResult:
        if not instance.has_dynamic_partition(f"{CONNECTION}__segments", segment):
            instance.add_dynamic_partitions(f"{CONNECTION}__segments", [segment])
        request = dg.RunRequest(
            job_name=f"{CONNECTION}__segment_job",
            partition_key=month_segment_key(current_month(), segment),
        )
        return execute(defs, instance, request)

    def table(self, asset: str, segment: str = "all") -> pl.DataFrame:
        path = self.data / "tables" / CONNECTION / asset / current_month() / f"{segment}.parquet"
        return pl.read_parquet(path)


@pytest.fixture
def deployment(
    resolvers: Resolvers,
    api: Api,
    pg_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Deployment:
    """The environment a deployment has, with the ledger and cache on PostgreSQL."""
    monkeypatch.setenv("AC_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("AC_HYGIENE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AC_HYGIENE_SMTP_PORT", str(resolvers.smtp_port))
    monkeypatch.delenv("AC_HYGIENE_TABLES", raising=False)
    monkeypatch.delenv("AC_HYGIENE_LEDGER_URL", raising=False)
    deployment = Deployment(monkeypatch, tmp_path / "data", pg_url, resolvers)
    deployment.point_at(api)
    deployment.resolver("healthy")
    return deployment


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(f"{CONNECTION}__{asset}")
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
