"""GET /contacts against a naive reference: any filter mix, any page size, both paging styles."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ac_hygiene.sandbox.activecampaign import create_app, generate_account, timefmt
from ac_hygiene.sandbox.activecampaign.contact_query import filter_day_start
from ac_hygiene_tests.sandbox.activecampaign.conftest import KEY, client_for

ACCOUNT = generate_account(260, seed=21, lists=4, tags=5)
APP = create_app(ACCOUNT, api_key=KEY, rate_limit=None)
DAY = 86_400
DATES = sorted({c.cdate for c in ACCOUNT.contacts.values()})


def _reference(params: dict) -> list[int]:
    """Which contacts the filters select, straight from the account, in id order."""
    selected = []
    for cid in sorted(ACCOUNT.contacts):
        c = ACCOUNT.contacts[cid]
        if "listid" in params:
            m = ACCOUNT.membership(cid, params["listid"])
            if m is None or params.get("status", -1) not in (-1, m.status):
                continue
        if "tagid" in params and params["tagid"] not in {t.tag for t in ACCOUNT.tags_of(cid)}:
            continue
        after = params.get("filters[updated_after]")
        if after is not None and c.udate < filter_day_start(after, ACCOUNT.tz):
            continue
        if "email_like" in params and params["email_like"] not in c.email.casefold():
            continue
        selected.append(cid)
    return selected


filters = st.fixed_dictionaries(
    {},
    optional={
        "listid": st.integers(1, 4),
        "status": st.sampled_from([-1, 1, 2, 3]),
        "tagid": st.integers(1, 5),
        "filters[updated_after]": st.sampled_from(DATES).map(
            lambda ts: timefmt.format_ac(ts + DAY * 200, ACCOUNT.tz)
        ),
        "email_like": st.sampled_from(["gmail", "acme", ".io", "nobody"]),
    },
).filter(lambda p: "status" not in p or "listid" in p)


async def _walk(params: dict, limit: int, keyset: bool, descending: bool) -> list[int]:
    seen: list[int] = []
    async with client_for(APP) as client:
        cursor = None
        for _ in range(len(ACCOUNT.contacts) + 2):  # a cursor that does not advance fails
            if len(seen) > len(ACCOUNT.contacts):
                break
            query = dict(params, limit=limit)
            if keyset:
                query["orders[id]"] = "DESC" if descending else "ASC"
                if cursor is not None:
                    query["id_less" if descending else "id_greater"] = cursor
            else:
                query["offset"] = len(seen)
            body = (await client.get("/api/3/contacts", params=query)).json()
            page = [int(c["id"]) for c in body["contacts"]]
            if cursor is None and not seen:
                total = int(body["meta"]["total"])
            if not page:
                break
            seen += page
            cursor = page[-1]
        else:
            pytest.fail(f"paging did not end: {len(seen)} contacts after every page")
    assert total == len(seen)
    return seen


@pytest.mark.parametrize(("keyset", "descending"), [(True, False), (True, True), (False, False)])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=filters, limit=st.integers(1, 130))
def test_paging_returns_exactly_the_reference_selection(
    keyset: bool, descending: bool, params: dict, limit: int
) -> None:
    expected = _reference(params)
    got = asyncio.run(_walk(params, limit, keyset, descending))
    assert got == (expected[::-1] if descending else expected)
