"""Reading a window of changes from the sandbox: exactly the window, each contact once, in few
pages."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ac_hygiene.activecampaign.changes import (
    ChangeWindow,
    changes_may_exist,
    filter_date,
    read_changes,
)
from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.retry import Backoff
from ac_hygiene.sandbox.activecampaign import generate_account
from ac_hygiene_tests.activecampaign.conftest import expected_contacts

FAST = {"rate": 500.0, "backoff": Backoff(base_s=0.01, cap_s=0.2)}
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
T = int((AS_OF + timedelta(days=10)).timestamp())  # the window's end
SINCE = T - 3600


def _window() -> ChangeWindow:
    return ChangeWindow(
        since=datetime.fromtimestamp(SINCE, UTC), until=datetime.fromtimestamp(T, UTC)
    )


def test_filter_date_is_before_the_window_in_every_zone() -> None:
    # 00:30 UTC on the 5th is still the 4th at UTC-12: two days back is before it in any zone,
    # whether the API includes the day named or starts after it
    since = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)
    assert filter_date(since) == "2026-12-03"
    with pytest.raises(ValueError, match="aware"):
        filter_date(datetime(2026, 12, 5))
    with pytest.raises(ValueError, match="end after"):
        ChangeWindow(since=since, until=since)


async def test_reads_exactly_the_window_in_few_pages(sandbox) -> None:
    account = generate_account(300, seed=3, as_of=AS_OF)
    ids = sorted(account.contacts)
    new = [account.add_contact(f"new{i}@example.com", cdate=T - 900 + i).id for i in range(150)]
    moved, renamed = ids[10:40], ids[50:70]
    for i, contact_id in enumerate(moved):
        account.update_contact(contact_id, now=T - 60, email=f"moved{i}@example.com")
    for contact_id in renamed:
        account.update_contact(contact_id, now=T - 30, first_name="Renamed")
    # the window's edges are included, to the second; outside them nothing is
    account.update_contact(ids[80], now=SINCE, first_name="AtTheStart")
    account.update_contact(ids[81], now=T, first_name="AtTheEnd")
    account.update_contact(ids[82], now=SINCE - 1, first_name="JustBefore")
    account.update_contact(ids[83], now=T + 1, first_name="JustAfter")  # next window's
    account.add_contact("later@example.com", cdate=T + 5)  # next window's too
    with sandbox(account=account) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            read = await read_changes(client, _window())
            contact_pages = sb.stats.requests["GET /api/3/contacts"]
            assert await changes_may_exist(client, datetime.fromtimestamp(SINCE, UTC))
        expected = expected_contacts(account)

    wanted = sorted([*new, *moved, *renamed, ids[80], ids[81]])
    assert read.contacts["contact_id"].to_list() == wanted
    # memberships and tags sideloaded as in the monthly snapshot: the same rows, column for column
    assert_frame_equal(
        read.contacts, expected.filter(pl.col("contact_id").is_in(wanted)), check_row_order=True
    )
    # stream 1: the 151 created since the margin (2 pages); stream 2: the 54 changed (1 page)
    assert read.created.returned == 151 and read.updated.returned == 30 + 20 + 4
    assert read.requests == contact_pages == math.ceil(151 / 100) + math.ceil(54 / 100)


async def test_a_quiet_account_answers_no_changes(sandbox) -> None:
    account = generate_account(120, seed=4, as_of=AS_OF)
    with sandbox(account=account) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            assert not await changes_may_exist(client, datetime.fromtimestamp(SINCE, UTC))
            read = await read_changes(client, _window())
        assert sb.stats.requests["GET /api/3/contacts"] == 4  # 2 counts, 2 empty first pages
    assert read.contacts.height == 0


async def test_a_server_ignoring_id_less_still_yields_each_contact_once(sandbox) -> None:
    """If `id_less` were ignored, stream 2 would return the new contacts again."""
    account = generate_account(50, seed=5, as_of=AS_OF)
    new = [account.add_contact(f"n{i}@example.com", cdate=T - 10).id for i in range(3)]
    with sandbox(account=account) as sb:
        async with ActiveCampaignClient(sb.connection(), **FAST) as client:
            original = client.get

            async def without_id_less(path, params=None, **kw):
                params = {k: v for k, v in (params or {}).items() if k != "id_less"}
                return await original(path, params=params, **kw)

            client.get = without_id_less  # type: ignore[method-assign]
            read = await read_changes(client, _window())
    assert read.contacts["contact_id"].to_list() == new
    assert read.updated.returned == 3  # read twice, kept once
