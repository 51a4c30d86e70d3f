"""Sandbox fixtures for the ActiveCampaign client tests: real servers on loopback, and an oracle.

The oracle (`expected_contacts`) builds the snapshot straight from the sandbox account's records,
not through the API, so a test compares the client against the account's truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pytest
from starlette.applications import Starlette

from ac_hygiene.activecampaign.api_url import ALLOW_LOOPBACK_ENV
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.limiter import forget_account_limiters
from ac_hygiene.sandbox.activecampaign import SandboxAccount, create_app, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene.schemas import Contacts, empty_frame

# Distinctive, so that a leak is found by a plain substring search.
SANDBOX_KEY = "5ecre7" + "feedface" * 8 + "b0b0"


@dataclass
class Sandbox:
    app: Starlette
    url: str
    account: SandboxAccount

    @property
    def stats(self):
        return self.app.state.sandbox.stats

    def connection(self, key: str = SANDBOX_KEY) -> Connection:
        return Connection.from_raw("sandbox", self.url, key)


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    forget_account_limiters()
    yield
    forget_account_limiters()


@pytest.fixture
def sandbox() -> Callable[..., AbstractContextManager[Sandbox]]:
    """`with sandbox(contacts=500, rate_limit=None, faults=...) as sb:` on a real socket."""

    @contextmanager
    def start(
        contacts: int = 300,
        seed: int = 3,
        account: SandboxAccount | None = None,
        **options: object,
    ) -> Iterator[Sandbox]:
        options.setdefault("rate_limit", None)
        account = account or generate_account(contacts, seed=seed)
        app = create_app(account, api_key=SANDBOX_KEY, **options)  # type: ignore[arg-type]
        with serve_in_thread(app) as url:
            yield Sandbox(app, url, account)

    return start


def _utc(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


def expected_contacts(account: SandboxAccount, *, list_id: int | None = None) -> pl.DataFrame:
    """The Contacts table the extraction must produce, from the account's records."""
    rows = []
    with account.lock:
        for contact_id in sorted(account.contacts):
            contact = account.contacts[contact_id]
            memberships = account.memberships_of(contact_id)
            if list_id is not None and not any(m.list == list_id for m in memberships):
                continue
            rows.append(
                {
                    "contact_id": contact.id,
                    "email": contact.email or None,
                    "first_name": contact.first_name or None,
                    "last_name": contact.last_name or None,
                    "created_at": _utc(contact.cdate),
                    "updated_at": _utc(contact.udate),
                    "bounced_hard": bool(contact.bounced_hard),
                    "active_list_ids": sorted(m.list for m in memberships if m.status == 1),
                    "unsubscribed_list_ids": sorted(m.list for m in memberships if m.status == 2),
                    "tag_ids": sorted(
                        {t.tag for t in account.tags_of(contact_id) if t.tag in account.tags}
                    ),
                }
            )
    schema = empty_frame(Contacts).schema
    return pl.DataFrame(rows, schema=schema) if rows else empty_frame(Contacts)
