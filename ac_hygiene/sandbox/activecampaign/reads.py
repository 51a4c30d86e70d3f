"""The read endpoints (`GET /api/3/...`), answered in ActiveCampaign's shapes.

Choices where the API reference is silent:
- Contacts come in ascending id order unless `orders[id]=DESC`. Real parameters the sandbox does
  not model (`segmentid`, `formid`, other `orders[...]`, ...) answer 400 saying so, rather than
  being ignored into a wrong answer (contact_query.UNSUPPORTED).
- `include=` on `GET /contacts` takes a comma-separated list of `contactLists`, `contactTags`,
  `fieldValues` and ignores other names; each included relation comes back as a top-level array
  beside `contacts`, to be joined on its `contact` key. The contacts themselves are not given id
  lists of their relations: the reference documents only the join, so a client must not rely on
  more.
- A filter value that is not a number (`listid=abc`) answers 400 `{"message": ...}` naming it.
- `GET /contacts?listid=N` for a list that does not exist answers an empty page, not an error.
- `GET /contactLists` is offset-paged in membership id order and ignores every filter;
  `GET /contactTags` honours only `filters[subscriberid]` and `filters[tagid]`; both ignore
  unknown filters silently, as the real endpoints do.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ac_hygiene.sandbox.activecampaign import paging
from ac_hygiene.sandbox.activecampaign.contact_query import ContactQuery, QueryError
from ac_hygiene.sandbox.activecampaign.records import Contact
from ac_hygiene.sandbox.activecampaign.shapes import Shapes
from ac_hygiene.sandbox.activecampaign.state import SandboxState

INCLUDABLE = ("contactLists", "contactTags", "fieldValues")


def state_of(request: Request) -> SandboxState:
    return request.app.state.sandbox


def shapes_of(request: Request) -> Shapes:
    return Shapes(state_of(request).account, str(request.base_url))


def not_found(kind: str, record_id: object) -> JSONResponse:
    """ActiveCampaign's 404: `No Result found for Subscriber with id 7`."""
    return JSONResponse({"message": f"No Result found for {kind} with id {record_id}"}, 404)


def _meta(total: int) -> dict[str, str]:
    return {"total": str(total)}


async def api_root(request: Request) -> JSONResponse:
    """`GET /api/3/`: 200 for a valid key (the guard answered 403/402/429 before this).

    Third-party clients (the Singer tap's `check_api_token`) call it as their credentials check
    and stop on anything but 200. What the live API puts in the body is not documented; clients
    read only the status, so the sandbox answers an empty object.
    """
    return JSONResponse({})


async def users_me(request: Request) -> JSONResponse:
    state = state_of(request)
    return JSONResponse({"user": shapes_of(request).user(state.account.user)})


async def lists(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    with account.lock:
        rows = list(account.lists.values())
        name = request.query_params.get("filters[name]")
        if name:
            rows = [r for r in rows if name.casefold() in r.name.casefold()]
        chosen = paging.page(rows, request.query_params)
        return JSONResponse(
            {"lists": [shapes.mailing_list(r) for r in chosen], "meta": _meta(len(rows))}
        )


async def tags(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    with account.lock:
        rows = list(account.tags.values())
        search = request.query_params.get("search")
        if search:
            rows = [r for r in rows if search.casefold() in r.tag.casefold()]
        chosen = paging.page(rows, request.query_params)
        return JSONResponse({"tags": [shapes.tag(r) for r in chosen], "meta": _meta(len(rows))})


async def fields(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    with account.lock:
        rows = list(account.fields.values())
        offset = paging.offset_of(request.query_params)
        chosen = paging.page(rows, request.query_params, default=100)
        return JSONResponse(
            {
                "fieldOptions": [],
                "fieldRels": [],
                "fields": [shapes.field(r, offset + i + 1) for i, r in enumerate(chosen)],
                "meta": _meta(len(rows)),
            }
        )


def _includes(request: Request) -> list[str]:
    wanted = {
        part.strip()
        for value in request.query_params.getlist("include")
        for part in value.split(",")
    }
    return [name for name in INCLUDABLE if name in wanted]


def _sideload(
    shapes: Shapes, contacts: list[Contact], includes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    account = shapes.account
    extra: dict[str, list[dict[str, Any]]] = {name: [] for name in includes}
    for c in contacts:
        if "contactLists" in includes:
            extra["contactLists"] += [shapes.contact_list(m) for m in account.memberships_of(c.id)]
        if "contactTags" in includes:
            extra["contactTags"] += [shapes.contact_tag(t) for t in account.tags_of(c.id)]
        if "fieldValues" in includes:
            extra["fieldValues"] += [shapes.field_value(v) for v in account.field_values_of(c.id)]
    return [shapes.contact(c) for c in contacts], extra


async def contacts(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    params = request.query_params
    try:
        query = ContactQuery.from_params(
            params, params.getlist("ids[]") + params.getlist("ids"), account.tz
        )
    except QueryError as exc:
        return JSONResponse({"message": str(exc)}, 400)
    limit, offset = paging.limit_of(params), paging.offset_of(params)
    with account.lock:
        total, chosen = query.run(account, offset, limit)
        rendered, extra = _sideload(shapes, chosen, _includes(request))
    cacheid = hashlib.md5(str(request.url.query).encode(), usedforsecurity=False).hexdigest()
    return JSONResponse(
        {
            "scoreValues": [],
            "contacts": rendered,
            **extra,
            "meta": {
                "total": str(total),
                "page_input": {
                    "segmentid": 0,
                    "formid": 0,
                    "listid": query.listid or 0,
                    "tagid": query.tagid or 0,
                    "limit": limit,
                    "offset": offset,
                    "search": params.get("search"),
                    "sort": None,
                    "seriesid": 0,
                    "waitid": 0,
                    "status": query.status,
                    "forceQuery": 0,
                    "cacheid": cacheid,
                },
            },
        }
    )


async def contact(request: Request) -> JSONResponse:
    """`GET /contacts/{id}`: sideloads memberships and field values (not tags), as the API does."""
    account, shapes = state_of(request).account, shapes_of(request)
    contact_id = request.path_params["id"]
    with account.lock:
        row = account.contacts.get(contact_id)
        if row is None:
            return not_found("Subscriber", contact_id)
        memberships = account.memberships_of(contact_id)
        values = account.field_values_of(contact_id)
        body = shapes.contact(row)
        for key in ("scoreValues", "anonymized", "deleted_at"):
            del body[key]  # the single-contact shape lacks these
        body.update(
            contactAutomations=[],
            contactLists=[str(m.id) for m in memberships],
            fieldValues=[str(v.id) for v in values],
            geoIps=[],
            deals=[],
            accountContacts=[],
        )
        return JSONResponse(
            {
                "contactAutomations": [],
                "contactLists": [shapes.contact_list(m) for m in memberships],
                "deals": [],
                "fieldValues": [shapes.field_value(v) for v in values],
                "geoAddresses": [],
                "geoIps": [],
                "contact": body,
            }
        )


async def contact_memberships(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    contact_id = request.path_params["id"]
    with account.lock:
        if contact_id not in account.contacts:
            return not_found("Subscriber", contact_id)
        rows = account.memberships_of(contact_id)
        return JSONResponse({"contactLists": [shapes.contact_list(m) for m in rows]})


async def contact_tags_of(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    contact_id = request.path_params["id"]
    with account.lock:
        if contact_id not in account.contacts:
            return not_found("Subscriber", contact_id)
        rows = account.tags_of(contact_id)
        return JSONResponse({"contactTags": [shapes.contact_tag(t) for t in rows]})


async def contact_field_values(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    contact_id = request.path_params["id"]
    with account.lock:
        if contact_id not in account.contacts:
            return not_found("Subscriber", contact_id)
        rows = account.field_values_of(contact_id)
        return JSONResponse({"fieldValues": [shapes.field_value(v) for v in rows]})


def _int_filter(request: Request, name: str) -> int | None:
    text = request.query_params.get(f"filters[{name}]")
    try:
        return int(text) if text else None
    except ValueError:
        return -1  # matches nothing, as an impossible id does


async def all_memberships(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    with account.lock:
        rows = account.cached(
            ("contactLists",), lambda: sorted(account.contact_lists.values(), key=lambda m: m.id)
        )
        chosen = paging.page(rows, request.query_params)
        return JSONResponse(
            {"contactLists": [shapes.contact_list(m) for m in chosen], "meta": _meta(len(rows))}
        )


async def all_contact_tags(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    subscriber, tag = _int_filter(request, "subscriberid"), _int_filter(request, "tagid")

    def select() -> list[Any]:
        if subscriber is not None:
            rows = list(account.tags_of(subscriber))
        else:
            rows = list(account.contact_tags.values())
        if tag is not None:
            rows = [t for t in rows if t.tag == tag]
        return sorted(rows, key=lambda t: t.id)

    with account.lock:
        rows = account.cached(("contactTags", subscriber, tag), select)
        chosen = paging.page(rows, request.query_params)
        return JSONResponse(
            {"contactTags": [shapes.contact_tag(t) for t in chosen], "meta": _meta(len(rows))}
        )


async def all_field_values(request: Request) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    field_id = _int_filter(request, "fieldid")
    value = request.query_params.get("filters[val]")

    def select() -> list[Any]:
        rows = account.field_values.values()
        return sorted(
            (
                v
                for v in rows
                if (field_id is None or v.field == field_id) and (value is None or v.value == value)
            ),
            key=lambda v: v.id,
        )

    with account.lock:
        rows = account.cached(("fieldValues", field_id, value), select)
        chosen = paging.page(rows, request.query_params)
        return JSONResponse(
            {"fieldValues": [shapes.field_value(v) for v in chosen], "meta": _meta(len(rows))}
        )


async def import_info(request: Request) -> JSONResponse:
    status, body = state_of(request).imports.info(request.query_params.get("batchId"))
    return JSONResponse(body, status)
