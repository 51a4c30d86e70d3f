"""The sandbox against ActiveCampaign's published v3 OpenAPI: every endpoint with an example.

Each case calls the sandbox and compares the answer with the spec's example for that status: the
same top-level keys and, recursively for the records, the same keys and JSON value types; a key
the example lacks is allowed only where another example of the spec shows ActiveCampaign
returning it. The requests are themselves checked with `assert_request_conforms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ac_hygiene.sandbox.activecampaign import SandboxAccount
from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for
from ac_hygiene_tests.sandbox.activecampaign.openapi_conformance import (
    assert_request_conforms,
    assert_response_conforms,
    json_type,
    record_profile,
    spec,
)


@dataclass(frozen=True)
class Case:
    method: str
    template: str
    status: int
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    key: str | None = "default"
    example: str | None = None
    extra_top_level: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    imports_before: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.template} {self.status} {self.example or ''}".strip()


BULK = {"contacts": [{"email": f"person{i}.x@acme.com", "tags": ["t"]} for i in range(3)]}
CASES = [
    Case("GET", "/users/me", 200, "/users/me"),
    Case("GET", "/contacts", 200, "/contacts", {"limit": 5}),
    Case(
        "GET",
        "/contacts",
        200,
        "/contacts",
        {"include": "contactLists,contactTags,fieldValues", "listid": 1},
        extra_top_level=("contactLists", "contactTags", "fieldValues"),
    ),
    Case("GET", "/contacts/{id}", 200, "/contacts/1"),
    Case("GET", "/contacts/{id}", 404, "/contacts/3"),
    Case("DELETE", "/contacts/{id}", 200, "/contacts/2"),
    Case("DELETE", "/contacts/{id}", 404, "/contacts/3"),
    Case("GET", "/contacts/{id}/contactLists", 200, "/contacts/1/contactLists"),
    Case("GET", "/contacts/{id}/contactLists", 404, "/contacts/3/contactLists"),
    Case("GET", "/contacts/{id}/fieldValues", 200, "/contacts/1/fieldValues"),
    Case("GET", "/contacts/{id}/fieldValues", 404, "/contacts/3/fieldValues"),
    Case(
        "POST",
        "/contactLists",
        200,
        "/contactLists",
        body={"contactList": {"list": 2, "contact": 1, "status": 1}},
    ),
    Case(
        "POST",
        "/contactTags",
        201,
        "/contactTags",
        body={"contactTag": {"contact": "1", "tag": "3"}},
    ),
    Case(
        "POST", "/contactTags", 404, "/contactTags", body={"contactTag": {"contact": 3, "tag": 1}}
    ),
    Case("POST", "/contactTags", 422, "/contactTags", body={"contactTag": {"tag": 1}}),
    Case("DELETE", "/contactTags/{id}", 200, "/contactTags/1"),
    Case("DELETE", "/contactTags/{id}", 404, "/contactTags/99"),
    Case("GET", "/lists", 200, "/lists"),
    Case("GET", "/lists", 403, "/lists", key="f" * 64),
    Case("GET", "/tags", 200, "/tags"),
    Case("GET", "/fields", 200, "/fields"),
    Case("GET", "/fieldValues", 200, "/fieldValues", {"filters[fieldid]": 1}),
    Case(
        "POST",
        "/fieldValues",
        200,
        "/fieldValues",
        body={"fieldValue": {"contact": 2, "field": 1, "value": "Blue"}},
    ),
    Case(
        "PUT",
        "/fieldValues/{id}",
        200,
        "/fieldValues/1",
        body={"fieldValue": {"contact": 1, "field": 2, "value": "Canada"}},
    ),
    Case(
        "POST",
        "/import/bulk_import",
        200,
        "/import/bulk_import",
        body=BULK,
        aliases=(("Success", "success"),),  # the live API spells it `success` (reference notes)
    ),
    Case(
        "POST",
        "/import/bulk_import",
        400,
        "/import/bulk_import",
        body={"contacts": [{"email": "no at sign"}, {"email": "ok@acme.com"}]},
        example="Contact Create Fail",
    ),
    Case(
        "POST",
        "/import/bulk_import",
        400,
        "/import/bulk_import",
        body=BULK,
        example="Other Error",
        imports_before=100,
    ),
    Case(
        "POST",
        "/contacts",
        201,
        "/contacts",
        body={
            "contact": {
                "email": "johndoe@example.com",
                "firstName": "John",
                "lastName": "Doe",
                "phone": "7223224241",
                "fieldValues": [{"field": "1", "value": "The Value for First Field"}],
            }
        },
    ),
    Case(
        "POST",
        "/fields",
        201,
        "/fields",
        body={"field": {"type": "text", "title": "Email verification"}},
    ),
    Case("GET", "/import/info", 200, "/import/info", {"batchId": "<batch>"}),
    Case("GET", "/import/info", 400, "/import/info"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_sandbox_answers_like_the_spec(
    case: Case, small_account: SandboxAccount, make_app, clock
) -> None:
    app = make_app(small_account, import_delay_s=0.5)
    key = None if case.key is None else case.key
    async with client_for(app, **({} if key == "default" else {"key": key})) as client:
        params = dict(case.params)
        if params.get("batchId") == "<batch>":
            queued = await client.post("/api/3/import/bulk_import", json=BULK)
            params["batchId"] = queued.json()["batchId"]
            clock.advance(2.0)
        for _ in range(case.imports_before):
            await client.post("/api/3/import/bulk_import", json=BULK)
        assert_request_conforms(case.method, f"/api/3{case.path}", params, case.body)
        response = await client.request(
            case.method, f"/api/3{case.path}", params=params, json=case.body
        )
    assert response.status_code == case.status, response.text
    body = response.json()
    assert_response_conforms(
        case.method,
        case.template,
        case.status,
        body,
        extra_top_level=case.extra_top_level,
        aliases=dict(case.aliases),
        example=case.example,
    )
    if case.template == "/import/info" and case.status == 200:
        assert body["status"] == "completed" and len(body["success"]) == 3


def test_every_sandbox_endpoint_with_an_example_is_covered() -> None:
    from ac_hygiene.sandbox.activecampaign.app import API, ROUTES

    served = {
        (method, route.path.removeprefix(API).replace("{id:int}", "{id}"))
        for route in ROUTES
        for method in route.methods - {"HEAD"}
    }
    with_examples = {
        (method.upper(), template)
        for template, operations in spec()["paths"].items()
        for method, operation in operations.items()
        if any(
            "examples" in media
            for response in operation.get("responses", {}).values()
            for media in response.get("content", {}).values()
        )
    }
    covered = {(c.method, c.template) for c in CASES}
    assert served & with_examples <= covered


async def test_account_wide_reads_return_the_documented_record_shapes(small_client) -> None:
    """GET /contactLists and /contactTags are not in the subset: their records must still carry
    only keys and types the spec shows for memberships and contact tags elsewhere."""
    profile = record_profile()
    for path, key, kind in (
        ("/api/3/contactLists", "contactLists", "contactList"),
        ("/api/3/contactTags", "contactTags", "contactTag"),
    ):
        assert_request_conforms("GET", path, {"limit": 100})
        records = (await small_client.get(path, params={"limit": 100})).json()[key]
        assert records
        for record in records:
            assert set(record) <= set(profile[kind]), set(record) - set(profile[kind])
            for name, value in record.items():
                kinds = profile[kind][name]
                value_kind = {str: "string", dict: "object", type(None): "null"}[type(value)]
                assert value_kind in kinds or kinds == {"null"}, (kind, name, value)


def test_conformance_check_catches_a_wrong_shape() -> None:
    good = {
        "user": {
            "id": "1",
            "username": "u",
            "firstName": "",
            "lastName": "",
            "email": "e",
            "phone": "",
            "signature": None,
            "links": {
                "lists": "",
                "userGroup": "",
                "dealGroupTotals": "",
                "dealGroupUsers": "",
                "configs": "",
            },
        }
    }
    assert_response_conforms("GET", "/users/me", 200, good)
    for broken, message in (
        ({**good, "extra": 1}, "top-level keys"),
        ({"user": {**good["user"], "id": 1}}, "user\\[0\\].id: number"),
        ({"user": {k: v for k, v in good["user"].items() if k != "email"}}, "'email' missing"),
        ({"user": {**good["user"], "nickname": "x"}}, "'nickname' is not one"),
    ):
        with pytest.raises(AssertionError, match=message):
            assert_response_conforms("GET", "/users/me", 200, broken)


LIVE_READS = [
    ("/api/3/contacts", {"limit": 5, "include": "contactTags,contactLists"}, "contacts", "contact"),
    ("/api/3/contacts/1", {}, "contact", "contact"),
    ("/api/3/lists", {}, "lists", "list"),
    ("/api/3/tags", {}, "tags", "tag"),
    ("/api/3/contactTags", {"limit": 100}, "contactTags", "contactTag"),
    ("/api/3/contactLists", {"limit": 100}, "contactLists", "contactList"),
    ("/api/3/contacts", {"limit": 5, "include": "contactTags"}, "contactTags", "contactTag"),
    ("/api/3/contacts", {"limit": 5, "include": "contactLists"}, "contactLists", "contactList"),
]


@pytest.mark.parametrize(("path", "params", "key", "kind"), LIVE_READS, ids=lambda v: str(v))
async def test_records_carry_every_field_the_live_api_returns(
    small_client, path: str, params: dict, key: str, kind: str
) -> None:
    """A client that keys on `updated_timestamp` (the Singer tap's bookmark for contacts, lists,
    contactTags and contactLists) must find it on every row, with the live API's types."""
    from ac_hygiene_tests.sandbox.activecampaign.openapi_conformance import LIVE_RECORD_FIELDS

    response = await small_client.get(path, params=params)
    assert response.status_code == 200, response.text
    value = response.json()[key]
    records = value if isinstance(value, list) else [value]
    assert records
    for record in records:
        for name, types in LIVE_RECORD_FIELDS[kind].items():
            assert name in record, f"{path} {key}: {name!r} missing"
            assert json_type(record[name]) in types, (kind, name, record[name])
        if kind == "contact" and "links" in record:
            assert set(LIVE_RECORD_FIELDS["contact.links"]) <= set(record["links"])


async def test_timestamps_are_the_accounts_wall_clock_and_counts_add_up(
    small_client, small_account: SandboxAccount
) -> None:
    """`created_timestamp` is `cdate`'s local time without its offset (the reference's
    membership example); `subscriber_count` is the number of contacts carrying the tag."""
    contact = (await small_client.get("/api/3/contacts", params={"limit": 1})).json()["contacts"][0]
    assert contact["cdate"][:19].replace("T", " ") == contact["created_timestamp"]
    assert contact["udate"][:19].replace("T", " ") == contact["updated_timestamp"]
    assert contact["email_empty"] is (contact["email"] == "")
    tags = (await small_client.get("/api/3/tags")).json()["tags"]
    links = (await small_client.get("/api/3/contactTags", params={"limit": 100})).json()
    assert int(links["meta"]["total"]) <= 100
    for tag in tags:
        carried = [t for t in links["contactTags"] if t["tag"] == tag["id"]]
        assert tag["subscriber_count"] == str(len(carried))
        assert tag["cdate"][:19].replace("T", " ") == tag["created_timestamp"]


async def test_the_api_root_answers_200_for_a_valid_key_only(
    small_account: SandboxAccount, make_app
) -> None:
    """Clients check credentials with `GET /api/3/` (the Singer tap) and exit on anything else."""
    app = make_app(small_account)
    async with client_for(app) as client:
        assert (await client.get("/api/3/")).status_code == 200
        assert (await client.get("/api/3")).status_code == 200
    async with client_for(app, key="f" * 64) as client:
        assert (await client.get("/api/3/")).status_code == 403
