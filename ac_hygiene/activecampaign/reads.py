"""Reads of the small account tables (user, lists, tags, fields, field values) as Polars frames.

These tables have at most a few thousand rows and no keyset paging, so they are paged by offset at
the API's maximum of 100 rows: the first page tells `meta.total`, the remaining pages are requested
together (the account limiter still paces them) and rows are de-duplicated by id in case the table
shifted between pages. Contacts, which are large and change while being read, are in `contacts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ac_hygiene.activecampaign.aio import gather_all
from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.convert import meta_total, text_or_none, to_int
from ac_hygiene.activecampaign.errors import UnexpectedResponse
from ac_hygiene.schemas import Fields, Lists, Tags, empty_frame

PAGE_LIMIT = 100

FIELD_VALUES_SCHEMA = {
    "field_value_id": pl.Int64,
    "contact_id": pl.Int64,
    "field_id": pl.Int64,
    "value": pl.String,
}


@dataclass(frozen=True)
class User:
    """The ActiveCampaign user whose key is in use."""

    id: int | None
    username: str | None
    email: str | None
    first_name: str | None
    last_name: str | None

    @property
    def display_name(self) -> str:
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.username or self.email or f"user {self.id}"


@dataclass(frozen=True)
class AccountSummary:
    user: User
    contacts: int
    lists: int
    tags: int


def _records(body: Any, key: str, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping) or not isinstance(body.get(key, []), list):
        raise UnexpectedResponse(f"{where}: expected a JSON object with a `{key}` array")
    return [row for row in body.get(key, []) if isinstance(row, Mapping)]


async def fetch_all(
    client: ActiveCampaignClient,
    path: str,
    key: str,
    params: Mapping[str, Any] | None = None,
) -> list[Mapping[str, Any]]:
    """Every row of an offset-paged collection, de-duplicated by `id`, in id order."""
    base = dict(params or {})
    first = await client.get(path, params={**base, "limit": PAGE_LIMIT, "offset": 0})
    rows = _records(first, key, path)
    total = meta_total(first)
    if total is None:  # no total: walk until a short page
        offset = len(rows)
        page = rows
        while len(page) == PAGE_LIMIT:
            body = await client.get(path, params={**base, "limit": PAGE_LIMIT, "offset": offset})
            page = _records(body, key, path)
            rows += page
            offset += len(page)
    else:
        offsets = range(PAGE_LIMIT, total, PAGE_LIMIT)
        bodies = await gather_all(
            *(client.get(path, params={**base, "limit": PAGE_LIMIT, "offset": o}) for o in offsets)
        )
        for body in bodies:
            rows += _records(body, key, path)
    unique: dict[int, Mapping[str, Any]] = {}
    for row in rows:
        row_id = to_int(row.get("id"))
        if row_id is not None and row_id >= 1:
            unique[row_id] = row
    return [unique[i] for i in sorted(unique)]


async def count(
    client: ActiveCampaignClient, path: str, params: Mapping[str, Any] | None = None
) -> int:
    """`meta.total` of a collection, for the price of one 1-row request."""
    body = await client.get(path, params={**(params or {}), "limit": 1})
    total = meta_total(body) if isinstance(body, Mapping) else None
    if total is None:
        raise UnexpectedResponse(f"GET {path}: the answer has no meta.total")
    return total


async def users_me(client: ActiveCampaignClient) -> User:
    """The cheap credential check: who owns the key."""
    body = await client.get("/users/me")
    user = body.get("user") if isinstance(body, Mapping) else None
    if not isinstance(user, Mapping):
        raise UnexpectedResponse("GET /users/me: the answer has no `user`")
    return User(
        id=to_int(user.get("id")),
        username=text_or_none(user.get("username")),
        email=text_or_none(user.get("email")),
        first_name=text_or_none(user.get("firstName")),
        last_name=text_or_none(user.get("lastName")),
    )


async def fetch_lists(client: ActiveCampaignClient) -> pl.DataFrame:
    rows = await fetch_all(client, "/lists", "lists")
    frame = pl.DataFrame(
        {
            "list_id": [to_int(r["id"]) for r in rows],
            "name": [str(r.get("name") or "") for r in rows],
        },
        schema=empty_frame(Lists).schema,
    )
    return Lists.validate(frame)


async def fetch_tags(client: ActiveCampaignClient) -> pl.DataFrame:
    rows = await fetch_all(client, "/tags", "tags")
    frame = pl.DataFrame(
        {"tag_id": [to_int(r["id"]) for r in rows], "tag": [str(r.get("tag") or "") for r in rows]},
        schema=empty_frame(Tags).schema,
    )
    return Tags.validate(frame)


async def fetch_fields(client: ActiveCampaignClient) -> pl.DataFrame:
    rows = await fetch_all(client, "/fields", "fields")
    frame = pl.DataFrame(
        {
            "field_id": [to_int(r["id"]) for r in rows],
            "title": [str(r.get("title") or "") for r in rows],
            "type": [str(r.get("type") or "") for r in rows],
        },
        schema=empty_frame(Fields).schema,
    )
    return Fields.validate(frame)


async def fetch_field_values(
    client: ActiveCampaignClient, field_id: int | None = None
) -> pl.DataFrame:
    """Custom field values (`field_value_id, contact_id, field_id, value`), optionally one field."""
    params = {"filters[fieldid]": field_id} if field_id is not None else None
    rows = await fetch_all(client, "/fieldValues", "fieldValues", params)
    return pl.DataFrame(
        {
            "field_value_id": [to_int(r.get("id")) for r in rows],
            "contact_id": [to_int(r.get("contact")) for r in rows],
            "field_id": [to_int(r.get("field")) for r in rows],
            "value": [text_or_none(r.get("value")) for r in rows],
        },
        schema=FIELD_VALUES_SCHEMA,
    )


async def account_summary(client: ActiveCampaignClient) -> AccountSummary:
    """User and counts in four requests (`limit=1`, read `meta.total`).

    The user comes first: it is the credential check, and a refused key should cost one request.
    """
    user = await users_me(client)
    contacts, lists, tags = await gather_all(
        count(client, "/contacts"), count(client, "/lists"), count(client, "/tags")
    )
    return AccountSummary(user=user, contacts=contacts, lists=lists, tags=tags)
