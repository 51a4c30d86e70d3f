"""Writes back to ActiveCampaign: bulk import, list status, tags, field values, delete.

Which writes are retried after an uncertain failure (timeout, 5xx, dropped connection): the ones
that *set a state*, so sending them twice leaves the account as sending them once, are marked
`idempotent=True`: list status (`POST /contactLists`), adding a tag (`POST /contactTags`, a second
add finds the tag already there), a field value (`POST /fieldValues` sets it), and the DELETEs.
Bulk import is not: a second batch would be queued and run automations again, so an uncertain
batch is reported as `unknown` for the caller to reconcile, never re-sent blindly.

Bulk import limits (all ActiveCampaign's): at most 250 contacts and under 400,000 bytes per
request, and at most 100 multi-contact requests per minute, enforced here by the account's own
bulk-import limiter on top of the 5 req/s one. The import runs asynchronously on the server:
`/import/info?batchId=` is polled until a final status, then reconciled email by email.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.convert import to_int
from ac_hygiene.activecampaign.errors import (
    NotFound,
    RetriesExhausted,
    UnexpectedResponse,
    Unreachable,
    ValidationFailed,
    WriteOutcomeUnknown,
)

log = logging.getLogger(__name__)

MAX_CONTACTS_PER_IMPORT = 250
MAX_IMPORT_BYTES = 400_000
FINAL_IMPORT_STATUSES = frozenset({"completed", "failed", "interrupted"})
_ENVELOPE = len(b'{"contacts":[]}')


@dataclass(frozen=True)
class ImportContact:
    """One contact of a bulk import; matched by email (created if it does not exist)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    tags: tuple[str, ...] = ()
    fields: tuple[tuple[int, str], ...] = ()
    subscribe: tuple[int, ...] = ()
    unsubscribe: tuple[int, ...] = ()
    # Hygiene writes should not start the account's automations (a welcome series on re-import).
    exclude_automations: bool = True

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"email": self.email}
        if self.first_name is not None:
            body["first_name"] = self.first_name
        if self.last_name is not None:
            body["last_name"] = self.last_name
        if self.tags:
            body["tags"] = list(self.tags)
        if self.fields:
            body["fields"] = [{"id": int(fid), "value": value} for fid, value in self.fields]
        if self.subscribe:
            body["subscribe"] = [{"listid": int(lid)} for lid in self.subscribe]
        if self.unsubscribe:
            body["unsubscribe"] = [{"listid": int(lid)} for lid in self.unsubscribe]
        body["exclude_automations"] = self.exclude_automations
        return body


@dataclass
class ImportResult:
    """Per email (as given): imported, failed (with the reason), skipped, or unknown."""

    batch_ids: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # e.g. on the account's exclusion list
    unknown: list[str] = field(default_factory=list)  # outcome unknown: reconcile before retrying
    requests: int = 0

    @property
    def complete(self) -> bool:
        return not self.unknown


def _encode(body: Any) -> bytes:
    """The bytes httpx sends for `json=body` (UTF-8, not `\\u` escapes; compact separators)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def split_batches(contacts: Sequence[ImportContact]) -> list[list[ImportContact]]:
    """Greedy batches of at most 250 contacts and under 400,000 bytes of JSON each."""
    batches: list[list[ImportContact]] = []
    current: list[ImportContact] = []
    size = _ENVELOPE
    for contact in contacts:
        item = len(_encode(contact.to_json())) + 1
        if item + _ENVELOPE >= MAX_IMPORT_BYTES:
            raise ValueError(
                "one contact of the import is larger than ActiveCampaign's 400,000-byte request "
                "limit on its own; shorten its field values"
            )
        if current and (len(current) >= MAX_CONTACTS_PER_IMPORT or size + item >= MAX_IMPORT_BYTES):
            batches.append(current)
            current, size = [], _ENVELOPE
        current.append(contact)
        size += item
    if current:
        batches.append(current)
    return batches


def _check_unique(contacts: Sequence[ImportContact]) -> None:
    seen: set[str] = set()
    for contact in contacts:
        key = contact.email.strip().casefold()
        if not key:
            raise ValueError("a contact of the import has no email")
        if key in seen:
            raise ValueError(
                f"the import lists {contact.email!r} twice; merge its changes into one entry"
            )
        seen.add(key)


async def bulk_import(
    client: ActiveCampaignClient,
    contacts: Sequence[ImportContact],
    *,
    poll_interval_s: float = 1.0,
    max_poll_interval_s: float = 5.0,
    timeout_s: float = 900.0,
) -> ImportResult:
    """Import `contacts` in batches, wait for each batch to finish, reconcile every email."""
    _check_unique(contacts)
    result = ImportResult()
    for batch in split_batches(contacts):
        await _import_batch(client, batch, result, poll_interval_s, max_poll_interval_s, timeout_s)
    return result


async def _import_batch(
    client: ActiveCampaignClient,
    batch: list[ImportContact],
    result: ImportResult,
    poll_interval_s: float,
    max_poll_interval_s: float,
    timeout_s: float,
) -> None:
    pending = list(batch)
    for _ in range(2):  # a batch rejected for some invalid contacts is re-sent once without them
        try:
            result.requests += 1
            body = await client.post(
                "/import/bulk_import",
                json={"contacts": [c.to_json() for c in pending]},
                extra_limiter=client.bulk_import_limiter,
            )
        except WriteOutcomeUnknown as exc:
            log.warning("bulk import of %d contacts: outcome unknown (%s)", len(pending), exc)
            result.unknown += [c.email for c in pending]
            return
        except ValidationFailed as exc:
            # The whole batch was refused (not queued): note the invalid ones, re-send the rest.
            invalid = _invalid_indexes(exc.failure_reasons, len(pending))
            if not invalid:
                raise
            for index, reason in invalid.items():
                result.failed[pending[index].email] = reason
            pending = [c for i, c in enumerate(pending) if i not in invalid]
            if not pending:
                return
            continue
        break
    else:  # refused twice: certainly not queued
        for contact in pending:
            result.failed[contact.email] = "not imported: ActiveCampaign refused the batch twice"
        return

    batch_id = str(_get(body, "batchId") or "")
    if not batch_id:
        raise UnexpectedResponse("POST /import/bulk_import: the answer has no batchId")
    result.batch_ids.append(batch_id)
    info = await _wait_for_batch(
        client, batch_id, result, poll_interval_s, max_poll_interval_s, timeout_s
    )
    if info is None:
        result.unknown += [c.email for c in pending]
        return
    await _reconcile(client, pending, info, result)


def _get(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, Mapping) else None


def _invalid_indexes(reasons: list[object], size: int) -> dict[int, str]:
    invalid: dict[int, str] = {}
    for reason in reasons:
        if isinstance(reason, Mapping):
            index = to_int(reason.get("contact"))
            if index is not None and 0 <= index < size:
                invalid[index] = str(reason.get("failureReason") or "rejected")
    return invalid


async def _wait_for_batch(
    client: ActiveCampaignClient,
    batch_id: str,
    result: ImportResult,
    poll_interval_s: float,
    max_poll_interval_s: float,
    timeout_s: float,
) -> Mapping[str, Any] | None:
    """Poll `/import/info` until a final status (`status` is `false` just after creation)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    interval = poll_interval_s
    while True:
        result.requests += 1
        try:
            info = await client.get("/import/info", params={"batchId": batch_id})
        except (RetriesExhausted, Unreachable) as exc:
            # The batch is queued (its id is in the result): its outcome is unknown, not failed,
            # and the other batches still go. The caller reconciles the unknowns later.
            log.warning("bulk import batch %s: its status cannot be read (%s)", batch_id, exc)
            return None
        status = _get(info, "status")
        if isinstance(status, str) and status.lower() in FINAL_IMPORT_STATUSES:
            return info  # type: ignore[return-value]
        if loop.time() + interval > deadline:
            log.warning("bulk import batch %s not finished after %.0f s", batch_id, timeout_s)
            return None
        await asyncio.sleep(interval)
        interval = min(max_poll_interval_s, interval * 1.5)


async def _reconcile(
    client: ActiveCampaignClient,
    batch: list[ImportContact],
    info: Mapping[str, Any],
    result: ImportResult,
) -> None:
    """Sort every email of the batch into imported / failed / skipped.

    `/import/info` lists contact *ids* that succeeded and *emails* that failed; whatever is in
    neither was skipped (e.g. the exclusion list). When the counts add up there is nothing to
    look up; otherwise the succeeded ids are read back (100 per request) to learn their emails.
    """
    status = str(info.get("status")).lower()
    failures = {str(e).casefold() for e in (info.get("failure") or []) if e is not None}
    success_ids = [i for i in (to_int(s) for s in (info.get("success") or [])) if i is not None]
    by_key = {c.email.strip().casefold(): c.email for c in batch}
    failed_keys = failures & set(by_key)
    for key in failed_keys:
        result.failed[by_key[key]] = f"import {status}: refused by ActiveCampaign"
    rest = [key for key in by_key if key not in failed_keys]
    if status != "completed" and not success_ids:
        for key in rest:
            result.failed[by_key[key]] = f"import {status}"
        return
    if len(success_ids) >= len(rest):
        result.imported += [by_key[key] for key in rest]
        return
    imported_keys = await _emails_of(client, success_ids)
    for key in rest:
        (result.imported if key in imported_keys else result.skipped).append(by_key[key])


async def _emails_of(client: ActiveCampaignClient, contact_ids: list[int]) -> set[str]:
    emails: set[str] = set()
    for start in range(0, len(contact_ids), 100):
        chunk = contact_ids[start : start + 100]
        body = await client.get("/contacts", params={"ids[]": chunk, "limit": 100})
        for contact in _get(body, "contacts") or []:
            if isinstance(contact, Mapping) and contact.get("email"):
                emails.add(str(contact["email"]).strip().casefold())
    return emails


# -- single-record writes ----------------------------------------------------------------------


async def unsubscribe(client: ActiveCampaignClient, contact_id: int, list_id: int) -> None:
    """Set the contact's status on one list to unsubscribed (2). Idempotent."""
    await client.post(
        "/contactLists",
        json={"contactList": {"list": int(list_id), "contact": int(contact_id), "status": 2}},
        idempotent=True,
    )


async def add_tag(client: ActiveCampaignClient, contact_id: int, tag_id: int) -> int | None:
    """Tag a contact; returns the contactTag id (needed to remove it again). Idempotent."""
    body = await client.post(
        "/contactTags",
        json={"contactTag": {"contact": int(contact_id), "tag": int(tag_id)}},
        idempotent=True,
    )
    return to_int(_get(_get(body, "contactTag"), "id"))


async def remove_tag(
    client: ActiveCampaignClient, contact_tag_id: int
) -> Literal["removed", "already_gone"]:
    """Untag by contactTag id; an already removed tag is reported, not raised."""
    try:
        await client.delete(f"/contactTags/{int(contact_tag_id)}")
    except NotFound:
        return "already_gone"
    return "removed"


async def set_field_value(
    client: ActiveCampaignClient, contact_id: int, field_id: int, value: str
) -> int | None:
    """Set a custom field of a contact; returns the fieldValue id. Idempotent."""
    body = await client.post(
        "/fieldValues",
        json={"fieldValue": {"contact": int(contact_id), "field": int(field_id), "value": value}},
        idempotent=True,
    )
    return to_int(_get(_get(body, "fieldValue"), "id"))


async def delete_contact(
    client: ActiveCampaignClient, contact_id: int
) -> Literal["deleted", "already_gone"]:
    """Delete a contact (cannot be undone in ActiveCampaign); 404 means it was already gone."""
    try:
        await client.delete(f"/contacts/{int(contact_id)}")
    except NotFound:
        return "already_gone"
    return "deleted"


# -- the apply step's building blocks ----------------------------------------------------------
# Re-read before writing, one import batch at a time (so the caller can journal its id before
# waiting), and what a restore needs (create a contact, find or create a custom field).

READ_BACK_PAGE = 100  # ids[] per GET /contacts: the endpoint's maximum page


@dataclass(frozen=True)
class Membership:
    """One list membership as ActiveCampaign holds it (status 0-3, dates as the API gives them)."""

    list_id: int
    status: int
    sdate: str | None = None
    udate: str | None = None


@dataclass(frozen=True)
class ContactRecord:
    """A contact in full: what a delete loses and a restore must give back."""

    contact_id: int
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    udate: str | None = None
    memberships: tuple[Membership, ...] = ()
    tag_ids: tuple[int, ...] = ()
    field_values: tuple[tuple[int, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
            "udate": self.udate,
            "memberships": [m.__dict__ for m in self.memberships],
            "tag_ids": list(self.tag_ids),
            "field_values": [[fid, value] for fid, value in self.field_values],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContactRecord:
        return cls(
            contact_id=int(data["contact_id"]),
            email=str(data["email"]),
            first_name=str(data.get("first_name") or ""),
            last_name=str(data.get("last_name") or ""),
            phone=str(data.get("phone") or ""),
            udate=data.get("udate"),
            memberships=tuple(Membership(**m) for m in data.get("memberships") or []),
            tag_ids=tuple(int(t) for t in data.get("tag_ids") or []),
            field_values=tuple((int(f), str(v)) for f, v in data.get("field_values") or []),
        )


async def read_contacts(
    client: ActiveCampaignClient, contact_ids: Sequence[int]
) -> tuple[dict[int, ContactRecord], int]:
    """The contacts that still exist among `contact_ids`, in full; and the requests made.

    `ids[]` with `include=contactLists,contactTags,fieldValues`, 100 a request: one request
    re-reads 100 contacts with everything a backup needs. A missing id is simply absent.
    """
    found: dict[int, ContactRecord] = {}
    requests = 0
    unique = sorted({int(i) for i in contact_ids})
    for start in range(0, len(unique), READ_BACK_PAGE):
        chunk = unique[start : start + READ_BACK_PAGE]
        requests += 1
        body = await client.get(
            "/contacts",
            params={
                "ids[]": chunk,
                "limit": READ_BACK_PAGE,
                "include": "contactLists,contactTags,fieldValues",
            },
        )
        wanted = set(chunk)
        lists: dict[int, list[Membership]] = {}
        tags: dict[int, list[int]] = {}
        values: dict[int, list[tuple[int, str]]] = {}
        for row in _get(body, "contactLists") or []:
            cid, lid, status = (to_int(row.get(k)) for k in ("contact", "list", "status"))
            if cid is not None and lid is not None and status is not None:
                lists.setdefault(cid, []).append(
                    Membership(lid, status, row.get("sdate"), row.get("udate"))
                )
        for row in _get(body, "contactTags") or []:
            cid, tid = to_int(row.get("contact")), to_int(row.get("tag"))
            if cid is not None and tid is not None:
                tags.setdefault(cid, []).append(tid)
        for row in _get(body, "fieldValues") or []:
            cid, fid = to_int(row.get("contact")), to_int(row.get("field"))
            if cid is not None and fid is not None:
                values.setdefault(cid, []).append((fid, str(row.get("value") or "")))
        for contact in _get(body, "contacts") or []:
            cid = to_int(_get(contact, "id"))
            if cid is None or cid not in wanted:
                continue
            found[cid] = ContactRecord(
                contact_id=cid,
                email=str(contact.get("email") or ""),
                first_name=str(contact.get("firstName") or ""),
                last_name=str(contact.get("lastName") or ""),
                phone=str(contact.get("phone") or ""),
                udate=contact.get("udate"),
                memberships=tuple(sorted(lists.get(cid, []), key=lambda m: m.list_id)),
                tag_ids=tuple(sorted(set(tags.get(cid, [])))),
                field_values=tuple(sorted(values.get(cid, []))),
            )
    return found, requests


async def submit_import(client: ActiveCampaignClient, batch: Sequence[ImportContact]) -> str:
    """Queue ONE bulk-import batch (≤ 250 contacts, < 400,000 bytes) and return its batch id.

    Not retried after an uncertain failure (`WriteOutcomeUnknown` reaches the caller, who
    re-checks the contacts before re-sending). A batch refused as a whole raises
    `ValidationFailed` (nothing was queued).
    """
    if not batch:
        raise ValueError("an import batch needs at least one contact")
    if len(split_batches(batch)) != 1:
        raise ValueError("the batch is over 250 contacts or 400,000 bytes: split it first")
    body = await client.post(
        "/import/bulk_import",
        json={"contacts": [c.to_json() for c in batch]},
        extra_limiter=client.bulk_import_limiter,
    )
    batch_id = str(_get(body, "batchId") or "")
    if not batch_id:
        raise UnexpectedResponse("POST /import/bulk_import: the answer has no batchId")
    return batch_id


async def import_status(client: ActiveCampaignClient, batch_id: str) -> Mapping[str, Any] | None:
    """One `/import/info` read: the info when the batch is final, else None (still running)."""
    info = await client.get("/import/info", params={"batchId": batch_id})
    status = _get(info, "status")
    if isinstance(status, str) and status.lower() in FINAL_IMPORT_STATUSES:
        return info  # type: ignore[return-value]
    return None


async def reconcile_import(
    client: ActiveCampaignClient, batch: Sequence[ImportContact], info: Mapping[str, Any]
) -> ImportResult:
    """Each email of a finished batch sorted into imported / failed / skipped."""
    result = ImportResult()
    await _reconcile(client, list(batch), info, result)
    return result


async def create_contact(client: ActiveCampaignClient, record: ContactRecord) -> int:
    """`POST /contacts` with the record's name and phone; returns the new id.

    Not retried blindly (a second POST could create a twin): an uncertain failure raises
    `WriteOutcomeUnknown` and the caller looks the email up before trying again.
    """
    body = await client.post(
        "/contacts",
        json={
            "contact": {
                "email": record.email,
                "firstName": record.first_name,
                "lastName": record.last_name,
                "phone": record.phone,
            }
        },
    )
    new_id = to_int(_get(_get(body, "contact"), "id"))
    if new_id is None:
        raise UnexpectedResponse("POST /contacts: the answer has no contact id")
    return new_id


async def find_contact_ids(client: ActiveCampaignClient, email: str) -> list[int]:
    """Ids of the contacts whose email is exactly `email` (the search itself ignores case)."""
    body = await client.get("/contacts", params={"email": email, "limit": 100})
    return [
        cid
        for contact in _get(body, "contacts") or []
        if str(contact.get("email") or "") == email and (cid := to_int(contact.get("id")))
    ]


async def set_membership(
    client: ActiveCampaignClient, contact_id: int, list_id: int, status: int
) -> None:
    """Subscribe (1) or unsubscribe (2) a contact on one list. Idempotent."""
    if status not in (1, 2):
        raise ValueError("the API sets list status 1 (active) or 2 (unsubscribed) only")
    await client.post(
        "/contactLists",
        json={"contactList": {"list": int(list_id), "contact": int(contact_id), "status": status}},
        idempotent=True,
    )


async def ensure_field(
    client: ActiveCampaignClient, title: str, *, create: bool = True
) -> int | None:
    """The id of the text custom field titled `title` (case-insensitive), created if missing
    (with `create=False`: None if missing)."""
    offset = 0
    while True:
        body = await client.get("/fields", params={"limit": 100, "offset": offset})
        rows = _get(body, "fields") or []
        for row in rows:
            if str(row.get("title") or "").strip().casefold() == title.strip().casefold():
                field_id = to_int(row.get("id"))
                if field_id is not None:
                    return field_id
        if len(rows) < 100:
            break
        offset += 100
    if not create:
        return None
    body = await client.post("/fields", json={"field": {"title": title, "type": "text"}})
    # The answer is `{"field": {...}}` or, as the reference's example shows, the list of fields.
    candidates = [_get(body, "field"), *(_get(body, "fields") or [])]
    for row in candidates:
        if isinstance(row, Mapping) and str(row.get("title") or "").strip().casefold() == (
            title.strip().casefold()
        ):
            field_id = to_int(row.get("id"))
            if field_id is not None:
                return field_id
    raise UnexpectedResponse("POST /fields: the answer does not show the new field's id")
