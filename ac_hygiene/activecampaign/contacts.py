"""Extracting a segment's contacts, with their list memberships and tags, as one Polars frame.

Contacts are paged by *keyset*, `orders[id]=ASC&id_greater=<last id>&limit=100`, the API's
documented fast path: unlike offset paging (what the open-source connectors do) it neither skips
nor repeats contacts when contacts are added or deleted during the read, it stays fast on large
accounts, and "the last id stored" is a complete, exact resume point (see `checkpoint`).

Memberships: by default they are sideloaded on the same pages (`include=contactLists,contactTags`,
returned as top-level arrays beside `contacts`), one request per 100 contacts. The alternative,
the account-wide `/contactLists` and `/contactTags` tables, costs about one extra request per 100
memberships and reads the whole account even for one list; measured against the sandbox it is
the slower one (see benchmarks/extract.py and the module's report), so it is kept only as an option
(`memberships="tables"`, not checkpointed: its tables are re-read after a crash).

Tags deleted from the account can still be listed on contacts: tag ids are kept only if the tag
still exists (the tags table is read *after* the contacts, so a tag deleted meanwhile is dropped).
A caller that already holds a recent tags table (the pipeline's `tags` asset) passes its ids as
`known_tag_ids`: when every tag id on the contacts is among them, none can be a deleted tag's
(ids are never reused) and the table is not read again; a tag deleted since that table was read
then stays on its contacts, exactly as if it had been deleted just after a fresh read. Any id
outside them (a new tag, or a deleted one) makes the extraction read the table as usual.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl

from ac_hygiene.activecampaign.checkpoint import Checkpoint
from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.convert import (
    meta_total,
    parse_utc,
    sorted_unique,
    text_or_none,
    to_bool_count,
    to_int,
)
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.errors import UnexpectedResponse
from ac_hygiene.activecampaign.limiter import DEFAULT_RATE
from ac_hygiene.activecampaign.reads import PAGE_LIMIT, fetch_all, fetch_tags
from ac_hygiene.activecampaign.segments import Segment, parse_segment, select_segment
from ac_hygiene.aio import run_sync
from ac_hygiene.schemas import Contacts, empty_frame

log = logging.getLogger(__name__)

Memberships = Literal["sideload", "tables"]
DEFAULT_MEMBERSHIPS: Memberships = "sideload"

ACTIVE = 1
UNSUBSCRIBED = 2

_RAW_SCHEMA = {
    "contact_id": pl.Int64,
    "email": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "created_raw": pl.String,
    "updated_raw": pl.String,
    "bounced_hard": pl.Boolean,
    "active_list_ids": pl.List(pl.Int64),
    "unsubscribed_list_ids": pl.List(pl.Int64),
    "tag_ids": pl.List(pl.Int64),
}


@dataclass(frozen=True)
class PageProgress:
    """Handed to `on_page` / `progress` after every stored page (long reads show progress)."""

    segment: str
    pages: int  # pages stored so far, including those of a resumed checkpoint
    contacts: int  # contacts stored so far
    total: int | None  # contacts the API said match, when it says
    last_id: int
    resumed_pages: int  # pages that came from the checkpoint rather than this run
    # The addresses of the page just stored (one per contact, None when it has none): lets a
    # caller start work on them while the read goes on (the snapshot's cache warm-up).
    emails: tuple[str | None, ...] = field(default=(), repr=False)


@dataclass
class _Memberships:
    active: dict[int, list[int]]
    unsubscribed: dict[int, list[int]]
    tags: dict[int, list[int]]


def _memberships(
    list_rows: list[Mapping[str, Any]], tag_rows: list[Mapping[str, Any]]
) -> _Memberships:
    active: defaultdict[int, list[int]] = defaultdict(list)
    unsubscribed: defaultdict[int, list[int]] = defaultdict(list)
    tags: defaultdict[int, list[int]] = defaultdict(list)
    for row in list_rows:
        contact, list_id, status = (
            to_int(row.get("contact")),
            to_int(row.get("list")),
            to_int(row.get("status")),
        )
        if contact is None or list_id is None:
            continue
        if status == ACTIVE:
            active[contact].append(list_id)
        elif status == UNSUBSCRIBED:
            unsubscribed[contact].append(list_id)
    for row in tag_rows:
        contact, tag = to_int(row.get("contact")), to_int(row.get("tag"))
        if contact is not None and tag is not None:
            tags[contact].append(tag)
    return _Memberships(active, unsubscribed, tags)


def _array(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise UnexpectedResponse(f"GET /contacts: `{key}` is not an array")
    return [row for row in value if isinstance(row, Mapping)]


def keyset_page(
    body: object, last_id: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(every contact of a `GET /contacts?id_greater=last_id` page, those above the cursor).

    Keyset guards: a contact at or below the cursor would be a duplicate; the next cursor is the
    page's last id, so an unordered page would skip contacts; and a full page with nothing new
    means the server ignores id_greater (the read would loop). Both stop the read.
    """
    if not isinstance(body, Mapping):
        raise UnexpectedResponse("GET /contacts: expected a JSON object")
    contacts = _array(body, "contacts")
    fresh = [c for c in contacts if (to_int(c.get("id")) or 0) > last_id]
    ids = [to_int(c.get("id")) or 0 for c in fresh]
    if any(later <= earlier for earlier, later in itertools.pairwise(ids)):
        raise UnexpectedResponse(
            f"GET /contacts?id_greater={last_id}: the page is not in ascending id order "
            "(orders[id]=ASC ignored); the read stops rather than skip contacts"
        )
    if not fresh and len(contacts) >= PAGE_LIMIT:
        raise UnexpectedResponse(
            f"GET /contacts?id_greater={last_id} answered contacts already read; the "
            "server does not page by id, so the read stops rather than loop"
        )
    return contacts, fresh


def raw_page_frame(
    contacts: list[Mapping[str, Any]], memberships: _Memberships | None
) -> pl.DataFrame:
    """One page of contacts as a frame (dates still text: they are parsed once, at the end)."""
    ids: list[int] = []
    for row in contacts:
        contact_id = to_int(row.get("id"))
        if contact_id is None or contact_id < 1:
            raise UnexpectedResponse("GET /contacts: a contact without a valid id")
        ids.append(contact_id)
    empty: dict[int, list[int]] = {}
    m = memberships or _Memberships(empty, empty, empty)
    return pl.DataFrame(
        {
            "contact_id": ids,
            "email": [text_or_none(row.get("email")) for row in contacts],
            "first_name": [text_or_none(row.get("firstName")) for row in contacts],
            "last_name": [text_or_none(row.get("lastName")) for row in contacts],
            "created_raw": [text_or_none(row.get("cdate")) for row in contacts],
            "updated_raw": [text_or_none(row.get("udate")) for row in contacts],
            "bounced_hard": [to_bool_count(row.get("bounced_hard")) for row in contacts],
            "active_list_ids": [sorted_unique(m.active.get(i, ())) for i in ids],
            "unsubscribed_list_ids": [sorted_unique(m.unsubscribed.get(i, ())) for i in ids],
            "tag_ids": [sorted_unique(m.tags.get(i, ())) for i in ids],
        },
        schema=_RAW_SCHEMA,
    )


def finish_frame(raw: pl.DataFrame, existing_tag_ids: pl.Series | None) -> pl.DataFrame:
    """Raw pages -> the validated `Contacts` table: UTC dates, tags of deleted tags dropped."""
    frame = raw.sort("contact_id").with_columns(
        created_at=parse_utc(pl.col("created_raw")),
        updated_at=parse_utc(pl.col("updated_raw")),
    )
    if existing_tag_ids is not None:
        keep = existing_tag_ids.implode()
        frame = frame.with_columns(
            tag_ids=pl.col("tag_ids").list.eval(pl.element().filter(pl.element().is_in(keep)))
        )
    frame = frame.select(list(empty_frame(Contacts).schema))
    return Contacts.validate(frame.cast(empty_frame(Contacts).schema))


def _updated_after_param(updated_after: date | datetime | None) -> dict[str, str]:
    """`filters[updated_after]` is a *date in the account's time zone*: ask from the day before.

    A day of margin covers every zone offset; the exact cut is applied afterwards on the UTC
    `updated_at` of each contact, so the result is exact and nothing is missed.
    """
    if updated_after is None:
        return {}
    day = updated_after.date() if isinstance(updated_after, datetime) else updated_after
    return {"filters[updated_after]": (day - timedelta(days=1)).isoformat()}


def _updated_after_cut(updated_after: date | datetime | None) -> datetime | None:
    if updated_after is None:
        return None
    if isinstance(updated_after, datetime):
        return updated_after if updated_after.tzinfo else updated_after.replace(tzinfo=UTC)
    return datetime(updated_after.year, updated_after.month, updated_after.day, tzinfo=UTC)


def checkpoint_key(
    api_url: str,
    segment: Segment,
    updated_after: date | datetime | None,
    memberships: Memberships,
) -> str:
    """What a checkpoint is valid for: the same account, segment, filter and membership mode."""
    identity = {
        "api_url": api_url,
        "segment": segment.key,
        "updated_after": updated_after.isoformat() if updated_after else None,
        "memberships": memberships,
        "v": 1,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


async def extract_contacts(
    client: ActiveCampaignClient,
    segment: Segment | str,
    *,
    checkpoint: Checkpoint | None = None,
    on_page: Callable[[PageProgress], None] | None = None,
    updated_after: date | datetime | None = None,
    memberships: Memberships = DEFAULT_MEMBERSHIPS,
    known_tag_ids: pl.Series | None = None,
) -> pl.DataFrame:
    """All contacts of `segment` (validated `Contacts` frame, ordered by contact_id).

    With a `checkpoint`, every page is persisted before the next is requested and an interrupted
    extraction resumes after the last stored contact; the result equals an uninterrupted one.
    `updated_after` keeps only contacts updated at or after that instant (UTC; a date means its
    midnight UTC).
    """
    segment = parse_segment(segment)
    if memberships not in ("sideload", "tables"):
        raise ValueError("memberships must be 'sideload' or 'tables'")
    sideload = memberships == "sideload"
    pages: list[pl.DataFrame] = []
    last_id = 0
    stored_pages = stored_rows = resumed_pages = 0
    if checkpoint is not None:
        last_id = checkpoint.state.last_id
        stored_pages = resumed_pages = checkpoint.state.pages
        stored_rows = checkpoint.state.rows
        if checkpoint.resumed:
            log.info(
                "segment %s: resuming after contact %d (%d pages, %d contacts stored)",
                segment,
                last_id,
                stored_pages,
                stored_rows,
            )
    base_params: dict[str, Any] = {
        "orders[id]": "ASC",
        "limit": PAGE_LIMIT,
        **segment.contact_params(),
        **_updated_after_param(updated_after),
    }
    if sideload:
        base_params["include"] = "contactLists,contactTags"
    total: int | None = None
    warned_inclusive = False

    while True:
        body = await client.get("/contacts", params={**base_params, "id_greater": last_id})
        contacts, fresh = keyset_page(body, last_id)
        if total is None:
            remaining = meta_total(body)
            total = None if remaining is None else stored_rows + remaining
        if len(fresh) < len(contacts) and not warned_inclusive:
            warned_inclusive = True
            log.warning(
                "GET /contacts?id_greater=%d returned contacts at or below that id; they are "
                "dropped (the server treats id_greater as inclusive)",
                last_id,
            )
        if not fresh:
            break
        member = (
            _memberships(_array(body, "contactLists"), _array(body, "contactTags"))
            if sideload
            else None
        )
        frame = raw_page_frame(fresh, member)
        last_id = int(frame["contact_id"].max())  # type: ignore[arg-type]
        if checkpoint is not None:
            checkpoint.record_page(frame, last_id)
        else:
            pages.append(frame)
        stored_pages += 1
        stored_rows += frame.height
        if on_page is not None:
            on_page(
                PageProgress(
                    segment=segment.key,
                    pages=stored_pages,
                    contacts=stored_rows,
                    total=total,
                    last_id=last_id,
                    resumed_pages=resumed_pages,
                    emails=tuple(frame.get_column("email").to_list()),
                )
            )
        if len(contacts) < PAGE_LIMIT:
            break

    frames = checkpoint.frames() if checkpoint is not None else pages
    raw = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=_RAW_SCHEMA)
    if raw.height and raw["contact_id"].n_unique() != raw.height:
        raise UnexpectedResponse("GET /contacts: the same contact came back twice")

    if not sideload:
        raw = await _attach_membership_tables(client, raw)
    result = finish_frame(raw, await _existing_tag_ids(client, raw, known_tag_ids))
    cut = _updated_after_cut(updated_after)
    if cut is not None:
        result = result.filter(pl.col("updated_at") >= cut)
    if not segment.filtered_read:  # `all`, or a remainder cut from the whole account
        result = select_segment(result, segment)
    return result


async def _existing_tag_ids(
    client: ActiveCampaignClient, raw: pl.DataFrame, known_tag_ids: pl.Series | None
) -> pl.Series:
    """The ids of the tags that exist: `known_tag_ids` when they cover every id on the contacts,
    else the tags table, read now (after the contacts)."""
    if known_tag_ids is not None:
        on_contacts = raw.get_column("tag_ids").explode().drop_nulls().unique()
        if on_contacts.is_in(known_tag_ids.implode()).all():
            return known_tag_ids
    return (await fetch_tags(client))["tag_id"]


async def _attach_membership_tables(
    client: ActiveCampaignClient, raw: pl.DataFrame
) -> pl.DataFrame:
    """The `memberships="tables"` alternative: read the account-wide membership tables."""
    list_rows = await fetch_all(client, "/contactLists", "contactLists")
    tag_rows = await fetch_all(client, "/contactTags", "contactTags")
    member = _memberships(list_rows, tag_rows)
    ids = raw["contact_id"].to_list()
    return raw.with_columns(
        active_list_ids=pl.Series(
            [sorted_unique(member.active.get(i, ())) for i in ids], dtype=pl.List(pl.Int64)
        ),
        unsubscribed_list_ids=pl.Series(
            [sorted_unique(member.unsubscribed.get(i, ())) for i in ids], dtype=pl.List(pl.Int64)
        ),
        tag_ids=pl.Series(
            [sorted_unique(member.tags.get(i, ())) for i in ids], dtype=pl.List(pl.Int64)
        ),
    )


def extract_contacts_sync(
    connection: Connection,
    segment: Segment | str,
    *,
    checkpoint_dir: Path | str | None = None,
    rate: float = DEFAULT_RATE,
    progress: Callable[[PageProgress], None] | None = None,
    updated_after: date | datetime | None = None,
    memberships: Memberships = DEFAULT_MEMBERSHIPS,
    max_retries: int = 6,
    known_tag_ids: pl.Series | None = None,
) -> pl.DataFrame:
    """The blocking entry point for the Dagster assets.

    With `checkpoint_dir`, pages are kept there until the extraction completes, so a killed run
    resumes where it stopped; the directory is emptied once the frame is returned.
    """
    segment = parse_segment(segment)
    checkpoint = None
    if checkpoint_dir is not None:
        key = checkpoint_key(connection.api_url, segment, updated_after, memberships)
        checkpoint = Checkpoint(checkpoint_dir, key)

    async def run() -> pl.DataFrame:
        async with ActiveCampaignClient(connection, rate=rate, max_retries=max_retries) as client:
            return await extract_contacts(
                client,
                segment,
                checkpoint=checkpoint,
                on_page=progress,
                updated_after=updated_after,
                memberships=memberships,
                known_tag_ids=known_tag_ids,
            )

    frame = run_sync(run())
    if checkpoint is not None:
        checkpoint.clear()
    return frame
