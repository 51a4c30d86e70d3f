"""The request checker client tests rely on: it accepts what the API documents, and only that."""

from __future__ import annotations

import json

import httpx
import pytest

from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for
from ac_hygiene_tests.sandbox.activecampaign.openapi_conformance import (
    assert_request_conforms,
    spec,
)

OUR_ENDPOINTS = {
    "/contactLists",
    "/contactTags",
    "/fieldValues",
    "/fieldValues/{id}",
    "/import/bulk_import",
}


def _official_request_examples():
    """The spec's request examples for the writes this project makes. (Some examples of other
    endpoints, such as POST /fields, disagree with their own schemas.)"""
    for template, operations in spec()["paths"].items():
        if template not in OUR_ENDPOINTS:
            continue
        for method, operation in operations.items():
            media = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            for name, example in (media or {}).get("examples", {}).items():
                value = example["value"]
                body = json.loads(value) if isinstance(value, str) else value
                yield pytest.param(method, template, body, id=f"{method} {template} {name}")


@pytest.mark.parametrize(("method", "template", "body"), list(_official_request_examples()))
def test_the_specs_own_request_examples_conform(method: str, template: str, body) -> None:
    assert_request_conforms(method, template.replace("{id}", "7"), None, body)


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "https://acct.api-us1.com/api/3/contacts?orders[id]=ASC", None, None),
        ("GET", "/api/3/contacts", {"id_greater": 10, "limit": 100, "orders[id]": "asc"}, None),
        (
            "GET",
            "/api/3/contacts",
            [("ids[]", "1"), ("ids[]", "2"), ("include", "contactTags")],
            None,
        ),
        ("GET", "/api/3/contacts", {"filters[updated_after]": "2026-01-05T10:11:12-06:00"}, None),
        ("GET", "/api/3/contacts", httpx.QueryParams({"listid": "3", "status": "1"}), None),
        ("GET", "/api/3/contactTags", {"filters[subscriberid]": 5, "offset": 100}, None),
        ("GET", "/api/3/lists", {"filters[name][eq]": "VIP"}, None),
        ("GET", "/api/3/import/info", {"batchId": "abc"}, None),
        ("DELETE", "/api/3/contacts/5", None, None),
        (
            "POST",
            "/api/3/contactLists",
            None,
            {"contactList": {"list": "2", "contact": 9, "status": 2}},
        ),
    ],
)
def test_documented_requests_conform(method, path, params, body) -> None:
    assert_request_conforms(method, path, params, body)


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "message"),
    [
        ("GET", "/api/3/contact", None, None, "not an endpoint"),
        ("PATCH", "/api/3/contacts/5", None, None, "not an endpoint"),
        ("GET", "/api/3/contacts", {"page": 2}, None, "'page' is not documented"),
        ("GET", "/api/3/contacts", {"id_greater": "abc"}, None, "must be an integer"),
        ("GET", "/api/3/contacts", {"orders[id]": "up"}, None, "must be one of"),
        ("GET", "/api/3/contacts", {"filters[created_after]": "last week"}, None, "must be a date"),
        ("GET", "/api/3/contactLists", {"listid": 3}, None, "'listid' is not documented"),
        ("GET", "/api/3/users/me", None, {"x": 1}, "takes no request body"),
        (
            "POST",
            "/api/3/contactLists",
            None,
            {"contactList": {"listId": 2, "contact": 1, "status": 2}},
            "listId: not a documented attribute",
        ),
        ("POST", "/api/3/contactLists", None, {"contactList": {"contact": 1}}, "list: required"),
        (
            "POST",
            "/api/3/import/bulk_import",
            None,
            {"contacts": [{"email": "a@b.c", "subscribe": [{"list_id": 1}]}]},
            r"subscribe\[0\]\.list_id: not a documented attribute",
        ),
        ("POST", "/api/3/import/bulk_import", None, {"contacts": "a@b.c"}, "expected an array"),
        ("POST", "/api/3/import/bulk_import", None, None, "requires a JSON body"),
    ],
)
def test_undocumented_requests_fail_with_the_reason(method, path, params, body, message) -> None:
    with pytest.raises(AssertionError, match=message):
        assert_request_conforms(method, path, params, body)


async def test_recorded_requests_can_be_checked_after_the_fact(small_account, make_app) -> None:
    app = make_app(small_account, record_requests=True)
    async with client_for(app) as client:
        await client.get("/api/3/contacts", params={"orders[id]": "ASC", "id_greater": 0})
        await client.post("/api/3/contactTags", json={"contactTag": {"contact": 1, "tag": 2}})
        await client.get("/api/3/contacts", params={"sort": "email"})
    recorded = list(app.state.sandbox.recorded)
    assert [r.method for r in recorded] == ["GET", "POST", "GET"]
    assert recorded[1].json_body == {"contactTag": {"contact": 1, "tag": 2}}
    for request in recorded[:2]:
        assert_request_conforms(request.method, request.path, request.params, request.json_body)
    with pytest.raises(AssertionError, match="'sort' is not documented"):
        last = recorded[2]
        assert_request_conforms(last.method, last.path, last.params, last.json_body)
