"""The write endpoints, with ActiveCampaign's answers for each way a write can go wrong.

Choices where the API reference is silent (documented so that client tests can rely on them):
- Missing or non-numeric ids in a body: 422 in ActiveCampaign's JSON:API error form
  (`{"errors":[{"status":422,"title":"Missing attribute","source":{"pointer":...}}]}`).
- `POST /contactLists`: an unknown contact answers 404 `No Result found for Subscriber with id N`;
  an unknown list answers **403** `{"message":"No Result found for _List with id N"}` (the trap the
  reference warns of: a 403 that is not an auth failure). Status must be 1 (subscribe) or 2
  (unsubscribe); unsubscribing a non-member creates the row with status 2. The answer echoes the
  status as sent (the API returns `"status": 1` as a number when sent one).
- `POST /contactTags` on a pair that is already tagged answers 201 with the existing row: no
  duplicate row. Unknown contact or tag: 404 in the JSON:API form of the reference example.
- `POST /fieldValues` overwrites the contact's value for that field (one value per pair); the
  answer echoes `contact`/`field` as sent. Unknown contact: 404 Subscriber; unknown field: 404.
- `DELETE /contacts/{id}` removes memberships, tags and field values with the contact; the id is
  never reused. Missing: 404 `{"message":"No result found for contact with id N"}` (the wording
  of the OpenAPI example for this call, unlike the `Subscriber` of the reads).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ac_hygiene.sandbox.activecampaign.bulk_import import RATE_LIMITED
from ac_hygiene.sandbox.activecampaign.reads import not_found, shapes_of, state_of
from ac_hygiene.sandbox.activecampaign.records import ACTIVE, UNSUBSCRIBED


class _BadBody(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__("bad request body")
        self.response = response


def _missing(attribute: str) -> _BadBody:
    return _BadBody(
        JSONResponse(
            {
                "errors": [
                    {
                        "status": 422,
                        "title": "Missing attribute",
                        "source": {"pointer": f"/data/attributes/{attribute}"},
                    }
                ]
            },
            422,
        )
    )


def _invalid(attribute: str, detail: str) -> _BadBody:
    return _BadBody(
        JSONResponse(
            {
                "errors": [
                    {
                        "status": 422,
                        "title": "Invalid attribute",
                        "detail": detail,
                        "source": {"pointer": f"/data/attributes/{attribute}"},
                    }
                ]
            },
            422,
        )
    )


def _not_found_error(detail: str) -> JSONResponse:
    return JSONResponse({"errors": [{"status": 404, "title": "Not Found", "detail": detail}]}, 404)


async def _body_object(request: Request, key: str) -> dict[str, Any]:
    try:
        payload = json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _invalid(key, "The request body is not valid JSON.") from None
    inner = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(inner, dict):
        raise _missing(key)
    return inner


def _id(inner: dict[str, Any], attribute: str) -> int:
    value = inner.get(attribute)
    if value is None or value == "":
        raise _missing(attribute)
    if isinstance(value, bool) or not (
        isinstance(value, int)
        or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit())
    ):
        raise _invalid(attribute, f"{attribute} must be a numeric id, got {value!r}")
    return int(value)


async def post_contact_list(request: Request) -> JSONResponse:
    state, shapes = state_of(request), shapes_of(request)
    account = state.account
    try:
        inner = await _body_object(request, "contactList")
        contact_id, list_id = _id(inner, "contact"), _id(inner, "list")
        status = _id(inner, "status")
    except _BadBody as bad:
        return bad.response
    if status not in (ACTIVE, UNSUBSCRIBED):
        return _invalid("status", "status must be 1 (subscribe) or 2 (unsubscribe)").response
    with account.lock:
        if contact_id not in account.contacts:
            return not_found("Subscriber", contact_id)
        if list_id not in account.lists:
            return JSONResponse({"message": f"No Result found for _List with id {list_id}"}, 403)
        row = account.set_membership(contact_id, list_id, status, now=state.now())
        rendered = shapes.contact_list(row)
        rendered["status"] = inner["status"]
        return JSONResponse(
            {"contacts": [shapes.contact(account.contacts[contact_id])], "contactList": rendered}
        )


async def post_contact_tag(request: Request) -> JSONResponse:
    state, shapes = state_of(request), shapes_of(request)
    account = state.account
    try:
        inner = await _body_object(request, "contactTag")
        contact_id, tag_id = _id(inner, "contact"), _id(inner, "tag")
    except _BadBody as bad:
        return bad.response
    with account.lock:
        if contact_id not in account.contacts:
            return _not_found_error("Contact not found")
        if tag_id not in account.tags:
            return _not_found_error("Tag not found")
        row, _ = account.add_contact_tag(contact_id, tag_id, now=state.now())
        return JSONResponse({"contactTag": shapes.contact_tag(row)}, 201)


async def delete_contact_tag(request: Request) -> JSONResponse:
    state = state_of(request)
    contact_tag_id = request.path_params["id"]
    if not state.account.remove_contact_tag(contact_tag_id, now=state.now()):
        return not_found("SubscriberTag", contact_tag_id)
    return JSONResponse({})


def _field_value_answer(
    request: Request, inner: dict[str, Any], field_value_id: int
) -> JSONResponse:
    account, shapes = state_of(request).account, shapes_of(request)
    row = account.field_values[field_value_id]
    rendered = shapes.field_value(row)
    del rendered["created_by"], rendered["updated_by"]  # the write answer lacks them
    rendered.update(contact=inner["contact"], field=inner["field"], owner=inner["contact"])
    return JSONResponse(
        {"contacts": [shapes.contact(account.contacts[row.contact])], "fieldValue": rendered}
    )


async def post_field_value(request: Request) -> JSONResponse:
    state = state_of(request)
    account = state.account
    try:
        inner = await _body_object(request, "fieldValue")
        contact_id, field_id = _id(inner, "contact"), _id(inner, "field")
        if "value" not in inner:
            raise _missing("value")
    except _BadBody as bad:
        return bad.response
    with account.lock:
        if contact_id not in account.contacts:
            return not_found("Subscriber", contact_id)
        if field_id not in account.fields:
            return not_found("Field", field_id)
        value = "" if inner["value"] is None else str(inner["value"])
        row = account.set_field_value(contact_id, field_id, value, now=state.now())
        return _field_value_answer(request, inner, row.id)


async def put_field_value(request: Request) -> JSONResponse:
    state = state_of(request)
    account = state.account
    field_value_id = request.path_params["id"]
    try:
        inner = await _body_object(request, "fieldValue")
        if "value" not in inner:
            raise _missing("value")
    except _BadBody as bad:
        return bad.response
    with account.lock:
        row = account.field_values.get(field_value_id)
        if row is None:
            return not_found("FieldValue", field_value_id)
        value = "" if inner["value"] is None else str(inner["value"])
        account.set_field_value(row.contact, row.field, value, now=state.now())
        echoed = {"contact": row.contact, "field": row.field, **inner}
        return _field_value_answer(request, echoed, row.id)


async def delete_contact(request: Request) -> JSONResponse:
    account = state_of(request).account
    contact_id = request.path_params["id"]
    if not account.delete_contact(contact_id):
        return JSONResponse({"message": f"No result found for contact with id {contact_id}"}, 404)
    return JSONResponse({})


async def bulk_import(request: Request) -> JSONResponse:
    state = state_of(request)
    status, body = state.imports.submit(await request.body())
    if body.get("message") == RATE_LIMITED:
        state.stats.import_rate_limited += 1
    return JSONResponse(body, status)


async def post_contact(request: Request) -> JSONResponse:
    """`POST /contacts`: create a contact (restore uses it). An exact duplicate email answers 422
    `duplicate`, as ActiveCampaign does; `fieldValues` in the body are set with the contact."""
    state, shapes = state_of(request), shapes_of(request)
    account = state.account
    try:
        inner = await _body_object(request, "contact")
    except _BadBody as bad:
        return bad.response
    email = inner.get("email")
    if not isinstance(email, str) or "@" not in email.strip():
        return _invalid("email", "Email address is not valid.").response
    raw_values = inner.get("fieldValues") or []
    if not isinstance(raw_values, list):
        return _invalid("fieldValues", "fieldValues must be an array").response
    with account.lock:
        if any(c.email == email for c in account.find_by_email(email)):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "Email address already exists in the system.",
                            "detail": "",
                            "code": "duplicate",
                            "source": {"pointer": "/data/attributes/email"},
                        }
                    ]
                },
                422,
            )
        values: list[tuple[int, str]] = []
        for item in raw_values:
            field_id = item.get("field") if isinstance(item, dict) else None
            try:
                fid = int(str(field_id))
            except ValueError:
                return _invalid("fieldValues", f"unknown field {field_id!r}").response
            if fid not in account.fields:
                return not_found("Field", fid)
            values.append((fid, "" if item.get("value") is None else str(item.get("value"))))
        now = state.now()
        row = account.add_contact(
            email,
            str(inner.get("firstName") or ""),
            str(inner.get("lastName") or ""),
            phone=str(inner.get("phone") or ""),
            cdate=now,
        )
        rendered_values = []
        for fid, value in values:
            fv = account.set_field_value(row.id, fid, value, now=now)
            rendered = shapes.field_value(fv)
            rendered_values.append(rendered)
        return JSONResponse(
            {"fieldValues": rendered_values, "contact": shapes.contact(row)}, status_code=201
        )


async def post_field(request: Request) -> JSONResponse:
    """`POST /fields`: create a custom field (title and type required).

    The answer follows the reference's only example for this call, which lists the account's
    fields (`fieldOptions`, `fieldRels`, `fields`, `meta`) rather than the new one alone; clients
    find the new field by its title. A title already taken answers 422 `duplicate`.
    """
    state, shapes = state_of(request), shapes_of(request)
    account = state.account
    try:
        inner = await _body_object(request, "field")
    except _BadBody as bad:
        return bad.response
    title, kind = inner.get("title"), inner.get("type")
    if not isinstance(title, str) or not title.strip():
        return _missing("title").response
    if not isinstance(kind, str) or not kind.strip():
        return _missing("type").response
    with account.lock:
        if any(f.title.casefold() == title.strip().casefold() for f in account.fields.values()):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "title": "There is already a field with this title",
                            "detail": f"There is already a field named '{title}' -- choose "
                            "another name",
                            "code": "duplicate",
                        }
                    ]
                },
                422,
            )
        account.add_field(title, kind, perstag=inner.get("perstag") or None, cdate=state.now())
        rows = list(account.fields.values())
        return JSONResponse(
            {
                "fieldOptions": [],
                "fieldRels": [],
                "fields": [shapes.field(r, i + 1) for i, r in enumerate(rows)],
                "meta": {"total": str(len(rows))},
            },
            status_code=201,
        )
