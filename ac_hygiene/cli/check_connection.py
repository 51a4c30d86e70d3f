"""`ac-hygiene check-connection`: is this API URL + key a working ActiveCampaign connection?

The first thing a user runs, so every failure ends in a distinct exit code and a message that
says what to do: 2 the URL or key is malformed (nothing was sent), 3 ActiveCampaign refused the
key, 4 the host cannot be reached, 5 the account's plan is inactive, 1 anything else.
"""

from __future__ import annotations

import asyncio

import click
import httpx

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import (
    AUTH_HINTS,
    AccountInactive,
    ActiveCampaignError,
    AuthenticationFailed,
    InvalidApiKey,
    InvalidApiUrl,
    Unreachable,
)
from ac_hygiene.activecampaign.reads import AccountSummary, account_summary

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_BAD_INPUT = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_INACTIVE = 5

# A person waits on this command: fail fast rather than back off for a minute.
_MAX_RETRIES = 2
_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


async def _summary(connection: Connection) -> AccountSummary:
    async with ActiveCampaignClient(
        connection, max_retries=_MAX_RETRIES, timeout=_TIMEOUT
    ) as client:
        return await account_summary(client)


def exit_code(exc: ActiveCampaignError) -> int:
    """The exit code of a failure talking to ActiveCampaign, for every command (module doc)."""
    if isinstance(exc, InvalidApiUrl | InvalidApiKey):
        return EXIT_BAD_INPUT
    if isinstance(exc, AuthenticationFailed):
        return EXIT_AUTH
    if isinstance(exc, Unreachable):
        return EXIT_UNREACHABLE
    if isinstance(exc, AccountInactive):
        return EXIT_INACTIVE
    return EXIT_OTHER


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    raise SystemExit(code)


@click.command(name="check-connection")
@click.option(
    "--api-url",
    envvar="AC_API_URL",
    show_envvar=True,
    metavar="URL",
    help="API URL from ActiveCampaign Settings → Developer, e.g. https://YOURACCOUNT.api-us1.com. "
    "Prefer the AC_API_URL environment variable.",
)
@click.option(
    "--api-key",
    envvar="AC_API_KEY",
    show_envvar=True,
    metavar="KEY",
    help="API key from Settings → Developer. Prefer the AC_API_KEY environment variable: a flag "
    "lands in your shell history.",
)
@click.option("--name", default="default", show_default=True, help="A name for this connection.")
def check_connection(api_url: str | None, api_key: str | None, name: str) -> None:
    """Check an ActiveCampaign API URL and key: who is connected, and the account's size.

    Reads AC_API_URL and AC_API_KEY from the environment (recommended). Exit codes: 0 connected,
    2 malformed URL or key, 3 ActiveCampaign refused the key, 4 host unreachable, 5 account
    inactive, 1 anything else.
    """
    if not api_url:
        _fail(
            "No API URL: set AC_API_URL (or pass --api-url). It is in ActiveCampaign under "
            "Settings → Developer and looks like https://YOURACCOUNT.api-us1.com.",
            EXIT_BAD_INPUT,
        )
    if not api_key:
        _fail(
            "No API key: set AC_API_KEY (or pass --api-key). It is in ActiveCampaign under "
            "Settings → Developer, below the API URL.",
            EXIT_BAD_INPUT,
        )
    try:
        connection = Connection.from_raw(name, api_url or "", api_key or "")
    except (InvalidApiUrl, InvalidApiKey) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
        return

    try:
        summary = asyncio.run(_summary(connection))
    except AuthenticationFailed:
        hints = "\n".join(f"  - {hint}" for hint in AUTH_HINTS)
        _fail(f"API authentication failed for {connection.api_url}.\n{hints}", EXIT_AUTH)
        return
    except Unreachable as exc:
        _fail(f"Cannot reach ActiveCampaign: {exc}", EXIT_UNREACHABLE)
        return
    except AccountInactive as exc:
        _fail(str(exc), EXIT_INACTIVE)
        return
    except ActiveCampaignError as exc:
        _fail(f"The connection check failed: {exc}", EXIT_OTHER)
        return

    user = summary.user
    who = user.display_name + (f" <{user.email}>" if user.email else "")
    click.echo(f"Connected '{connection.name}' to {connection.api_url} as {who}.")
    click.echo(
        f"Contacts: {summary.contacts:,}   Lists: {summary.lists:,}   Tags: {summary.tags:,}"
    )
