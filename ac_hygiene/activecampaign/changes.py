"""Reading only what changed: the contacts created or updated within a time window.

The new-contacts watch reads, every few hours, the contacts that were created or changed since its
cursor. ActiveCampaign offers `filters[created_after]` and `filters[updated_after]` on
`GET /contacts`, but types them as **dates** ("contacts created after this date"), read in the
account's own time zone, and does not say whether the day named is included. So:

- the filters are sent as a date `FILTER_MARGIN` (two days) before the window's start in UTC:
  whatever the account's zone (UTC-12 to UTC+14) and whether the day itself is included or not,
  that date's midnight is before the window's start, so the API returns a superset;
- the exact cut is made here, on the UTC `created_at` / `updated_at` of each contact returned: a
  contact is in the window when its latest change (`updated_at`, or `created_at` for a contact
  never updated) lies in `[since, until]`. A contact changed again after `until` is left to the
  next window, which sees its latest state.

Two streams, both keyset-paged (`orders[id]=ASC&id_greater=<last id>&limit=100`, the API's
documented fast path):

1. `filters[created_after]` - the new contacts, whatever their `udate` (the API shows contacts
   whose `udate` is null; such a contact is invisible to `updated_after`);
2. `filters[updated_after]` with `id_less=<first id of stream 1>` - the existing contacts that
   changed. Ids are allocated in creation order, so every contact at or above the first new id was
   created within the margin and is already in stream 1: each contact is read once.

Each stream stops on a short page or once it has returned the `meta.total` its first page
announced, so a window of N changed contacts costs about N/100 requests (plus one or two).
Memberships and tags are sideloaded on the same pages, as the monthly extraction does, so the
window's clean plan knows each contact's lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import (
    _RAW_SCHEMA,
    _array,
    _existing_tag_ids,
    _memberships,
    finish_frame,
    keyset_page,
    raw_page_frame,
)
from ac_hygiene.activecampaign.convert import meta_total, to_int
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.limiter import DEFAULT_RATE
from ac_hygiene.activecampaign.reads import PAGE_LIMIT, count
from ac_hygiene.aio import run_sync

#: How far before the window's start (in UTC days) the date filters are set; see the module doc.
FILTER_MARGIN = timedelta(days=2)
CREATED_AFTER = "filters[created_after]"
UPDATED_AFTER = "filters[updated_after]"


def _aware_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class ChangeWindow:
    """The instants a watch run covers, both included, in UTC."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        since = _aware_utc(self.since, "since")
        until = _aware_utc(self.until, "until")
        if until <= since:
            raise ValueError(f"a window must end after it starts: {since} .. {until}")
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)

    @property
    def month(self) -> str:
        """The billing month of the window: the month (UTC) in which it ends."""
        return self.until.strftime("%Y-%m")


def filter_date(since: datetime) -> str:
    """The `filters[...]` value that is certainly before `since` in any account zone."""
    return (_aware_utc(since, "since").date() - FILTER_MARGIN).isoformat()


@dataclass(frozen=True)
class StreamRead:
    """What one filtered stream cost and returned."""

    requests: int
    returned: int
    first_id: int | None


@dataclass(frozen=True)
class ChangeRead:
    """The window's contacts (validated `Contacts`, by contact_id) and what reading them cost."""

    contacts: pl.DataFrame
    created: StreamRead
    updated: StreamRead

    @property
    def requests(self) -> int:
        return self.created.requests + self.updated.requests

    @property
    def returned(self) -> int:
        """Contacts the API returned (the date filters' superset of the window)."""
        return self.created.returned + self.updated.returned


async def _stream(
    client: ActiveCampaignClient,
    params: Mapping[str, Any],
    pages: list[pl.DataFrame],
    on_page: Callable[[int, int], None] | None,
) -> StreamRead:
    """Every contact matching `params`, by ascending id; raw page frames appended to `pages`."""
    base = {"orders[id]": "ASC", "limit": PAGE_LIMIT, "include": "contactLists,contactTags"}
    base |= params
    last_id = 0
    requests = returned = 0
    total: int | None = None
    first_id: int | None = None
    while True:
        body = await client.get("/contacts", params={**base, "id_greater": last_id})
        requests += 1
        contacts, fresh = keyset_page(body, last_id)
        if total is None:
            total = meta_total(body)
        if not fresh:
            break
        ids = [to_int(c.get("id")) or 0 for c in fresh]
        member = _memberships(_array(body, "contactLists"), _array(body, "contactTags"))
        frame = raw_page_frame(fresh, member)
        pages.append(frame)
        first_id = ids[0] if first_id is None else first_id
        last_id = ids[-1]
        returned += frame.height
        if on_page is not None:
            on_page(requests, returned)
        if len(contacts) < PAGE_LIMIT or (total is not None and returned >= total):
            break
    return StreamRead(requests=requests, returned=returned, first_id=first_id)


def in_window(frame: pl.DataFrame, window: ChangeWindow) -> pl.DataFrame:
    """The contacts whose latest change lies in the window (see the module docstring)."""
    last_change = pl.max_horizontal("created_at", "updated_at")
    return frame.filter(last_change.is_between(window.since, window.until, closed="both"))


async def read_changes(
    client: ActiveCampaignClient,
    window: ChangeWindow,
    *,
    known_tag_ids: pl.Series | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> ChangeRead:
    """The contacts created or changed within `window` (see the module docstring)."""
    day = filter_date(window.since)
    pages: list[pl.DataFrame] = []
    created = await _stream(client, {CREATED_AFTER: day}, pages, on_page)
    changed_params: dict[str, Any] = {UPDATED_AFTER: day}
    if created.first_id is not None:
        changed_params["id_less"] = created.first_id
    updated = await _stream(client, changed_params, pages, on_page)
    raw = pl.concat(pages, how="vertical") if pages else pl.DataFrame(schema=_RAW_SCHEMA)
    # Stream 2 stops below stream 1's first id; a contact can still come twice if the server
    # ignored id_less. The later read is the fresher one.
    raw = raw.unique(subset="contact_id", keep="last", maintain_order=True)
    frame = finish_frame(raw, await _existing_tag_ids(client, raw, known_tag_ids))
    return ChangeRead(contacts=in_window(frame, window), created=created, updated=updated)


async def changes_may_exist(client: ActiveCampaignClient, since: datetime) -> bool:
    """Two 1-row requests: could any contact have been created or changed since `since`?

    The filters are whole days (see the module doc), so True means "something changed since the
    margin date", not necessarily within the window; False is certain.
    """
    day = filter_date(since)
    if await count(client, "/contacts", {CREATED_AFTER: day}):
        return True
    return bool(await count(client, "/contacts", {UPDATED_AFTER: day}))


def read_changes_sync(
    connection: Connection,
    window: ChangeWindow,
    *,
    rate: float = DEFAULT_RATE,
    known_tag_ids: pl.Series | None = None,
    on_page: Callable[[int, int], None] | None = None,
    max_retries: int = 6,
) -> ChangeRead:
    """The blocking entry point for the Dagster assets.

    Not checkpointed: a window holds what changed in a few hours, read in a few requests, and a
    failed read is simply read again.
    """

    async def run() -> ChangeRead:
        async with ActiveCampaignClient(connection, rate=rate, max_retries=max_retries) as client:
            return await read_changes(client, window, known_tag_ids=known_tag_ids, on_page=on_page)

    return run_sync(run())
