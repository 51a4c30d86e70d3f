"""Resources: one ActiveCampaign account per connection, the verifier, the ledger database.

Credentials reach a run only as `EnvVar`s: the UI shows the variable's name, never its value, and
the definitions load (for `dagster definitions validate`, or `dagster dev` on a machine without
the keys) even when the variables are unset; a run that needs them fails at its start with
Dagster's message naming the missing variable. The key field is also kept out of the resource's
repr, so a resource printed in a log or a traceback cannot show it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import dagster as dg
from pydantic import Field

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import InvalidApiKey, InvalidApiUrl
from ac_hygiene.activecampaign.limiter import DEFAULT_RATE
from ac_hygiene.aio import run_sync
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs import paths
from ac_hygiene.defs.verifier import (
    CANARIES_ENV,
    DNS_ENV,
    HELO_ENV,
    SMTP_PORT_ENV,
    SMTP_TIMEOUT_ENV,
    verification_settings,
)
from ac_hygiene.verification import VerificationSettings

T = TypeVar("T")


class ActiveCampaignConfigError(dg.Failure):
    """The connection's URL or key, as found in the environment, cannot be used."""


class ActiveCampaignResource(dg.ConfigurableResource):
    """One ActiveCampaign account (credentials from the environment variables named in the
    connections file)."""

    connection_name: str
    api_url: str = Field(description="The account's API URL (Settings → Developer).")
    api_key: str = Field(repr=False, description="The account's API key (never shown).")
    rate: float = Field(
        default=DEFAULT_RATE, description="Requests per second this process allows itself."
    )

    def connection(self) -> Connection:
        """The normalized connection; a malformed URL or key fails the step with the fix."""
        try:
            return Connection.from_raw(self.connection_name, self.api_url, self.api_key)
        except (InvalidApiUrl, InvalidApiKey) as exc:
            raise ActiveCampaignConfigError(
                description=f"Connection {self.connection_name!r}: {exc}"
            ) from None

    def run(self, work: Callable[[ActiveCampaignClient], Awaitable[T]]) -> T:
        """Run one async read with a client of this account, from synchronous asset code."""

        async def go() -> T:
            async with ActiveCampaignClient(self.connection(), rate=self.rate) as client:
                return await work(client)

        return run_sync(go())


def activecampaign_resource_key(connection: str) -> str:
    return f"activecampaign_{connection}"


def activecampaign_resource(settings: ConnectionSettings) -> ActiveCampaignResource:
    return ActiveCampaignResource(
        connection_name=settings.name,
        api_url=dg.EnvVar(settings.api_url_env),
        api_key=dg.EnvVar(settings.api_key_env),
    )


class LedgerResource(dg.ConfigurableResource):
    """The credits ledger and verification cache database.

    Empty `url`: `$AC_HYGIENE_LEDGER_URL` if set (read at run time, so a PostgreSQL password in it
    never appears in the UI), else SQLite under the data directory.
    """

    url: str = Field(default="", repr=False)
    cache_freshness_days: int = 30
    reservation_ttl_minutes: int = Field(
        default=30,
        ge=1,
        description=(
            "How long credits held by a run that stops making progress (killed) stay held "
            "before they return to the balance."
        ),
    )

    def database_url(self) -> str:
        return self.url or paths.ledger_url()


class VerifierResource(dg.ConfigurableResource):
    """How the verification engine reaches the mail world: name server, SMTP port, HELO name.

    Every field left empty falls back to an environment variable read at run time
    (`AC_HYGIENE_DNS=host:port`, `AC_HYGIENE_SMTP_PORT`, `AC_HYGIENE_HELO`,
    `AC_HYGIENE_SMTP_TIMEOUT`), then to the engine's defaults (the system resolver, port 25):
    the demo and the sandbox point the engine at loopback servers through the same settings a
    production deployment uses.
    """

    dns: str = Field(default="", description="Name server as host:port (default: system's).")
    smtp_port: int = Field(default=0, description="SMTP port of mail servers (default 25).")
    helo: str = Field(default="", description="Name announced in HELO/EHLO.")
    smtp_timeout_s: float = Field(default=0.0, description="Seconds per SMTP reply.")
    canaries: str = Field(
        default="",
        description=(
            "Resolver canaries, comma-separated domains that must resolve before a batch is "
            "trusted (default: gmail.com,outlook.com,yahoo.com; `none` turns the check off)."
        ),
    )

    def settings(self) -> VerificationSettings:
        return verification_settings(
            dns=self.dns or os.environ.get(DNS_ENV, ""),
            smtp_port=self.smtp_port or int(_env_number(SMTP_PORT_ENV, int, "a port number")),
            helo=self.helo or os.environ.get(HELO_ENV, ""),
            smtp_timeout_s=self.smtp_timeout_s
            or _env_number(SMTP_TIMEOUT_ENV, float, "a number of seconds"),
            canaries=self.canaries or os.environ.get(CANARIES_ENV, ""),
        )


def _env_number(name: str, kind: type[int] | type[float], what: str) -> float:
    """A numeric setting from the environment (unset or empty: 0), its name in any error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
