"""Read endpoints: real shapes, paging rules, filters and includes, against the small fixture."""

from __future__ import annotations

import httpx
import pytest

from ac_hygiene.sandbox.activecampaign import generate_account
from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for


async def _ids(client: httpx.AsyncClient, **params: object) -> list[int]:
    response = await client.get("/api/3/contacts", params=params)
    assert response.status_code == 200, response.text
    return [int(c["id"]) for c in response.json()["contacts"]]


async def test_contact_values_are_strings_and_dates_carry_the_account_offset(small_client) -> None:
    body = (await small_client.get("/api/3/contacts", params={"ids[]": 4})).json()
    (contact,) = body["contacts"]
    assert contact["id"] == "4" and contact["bounced_hard"] == "1"
    assert contact["email"] == "nobody-4711@yahoo.com"
    # 2024-04-01T08:00:00Z in America/Chicago (daylight time)
    assert contact["cdate"] == "2024-04-01T03:00:00-05:00"
    assert (
        contact["links"]["contactLists"] == "https://demo.api-us1.com/api/3/contacts/4/contactLists"
    )
    assert body["meta"]["total"] == "1"
    assert body["scoreValues"] == []


async def test_default_limit_is_20_and_larger_limits_are_clamped_to_100(make_app) -> None:
    async with client_for(make_app(generate_account(130, seed=2))) as client:
        default = (await client.get("/api/3/contacts")).json()
        clamped = (await client.get("/api/3/contacts", params={"limit": 500})).json()
    assert len(default["contacts"]) == 20
    assert default["meta"]["total"] == "130"
    assert len(clamped["contacts"]) == 100
    assert clamped["meta"]["page_input"]["limit"] == 100


async def test_offset_paging_walks_in_id_order(small_client) -> None:
    first = await _ids(small_client, limit=5)
    second = await _ids(small_client, limit=5, offset=5)
    rest = await _ids(small_client, limit=5, offset=10)
    assert first + second + rest == [1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14]


async def test_keyset_paging_both_directions(small_client) -> None:
    assert await _ids(small_client, **{"orders[id]": "ASC", "id_greater": 6, "limit": 3}) == [
        8,
        9,
        10,
    ]
    assert await _ids(small_client, **{"orders[id]": "DESC", "id_less": 9, "limit": 3}) == [8, 6, 5]
    assert await _ids(small_client, id_greater=4, id_less=9) == [5, 6, 8]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"listid": 1}, [1, 2, 4, 6, 10, 11]),
        ({"listid": 1, "status": 1}, [1, 6, 10, 11]),
        ({"listid": 1, "status": 2}, [2]),
        ({"listid": 1, "status": 3}, [4]),
        ({"listid": 2, "status": 0}, [12]),
        ({"listid": 99}, []),
        ({"status": 2}, [2]),
        ({"tagid": 3}, [8, 14]),
        ({"tagid": 1, "listid": 2}, [1, 5]),
        ({"email": "ALICE.SMITH@gmail.com"}, [1, 14]),
        ({"email_like": "gmail"}, [1, 2, 14]),
        ({"search": "jürgen"}, [12]),
        ({"ids": "2,5,99"}, [2, 5]),
        ({"exclude": 1, "email_like": "gmail"}, [2, 14]),
        # dates are read in the account zone (America/Chicago): 2024-10-10 10:10Z is 05:10 there
        ({"filters[created_after]": "2024-10-10"}, [13, 14]),
        # the API types these filters as dates: a time of day is dropped, not honoured
        ({"filters[created_after]": "2024-10-10T05:10:01-05:00"}, [13, 14]),
        ({"filters[created_after]": "2024-10-10T15:10:01Z"}, [13, 14]),
        # before the date = before its midnight there (contact 4 was created 03:00 local)
        ({"filters[created_before]": "2024-04-01T03:00:00-05:00"}, [1, 2]),
        ({"filters[created_before]": "2024-04-02"}, [1, 2, 4]),
        ({"filters[updated_after]": "2025-01-01"}, [1, 14]),
        ({"filters[updated_before]": "2024-03-06"}, [2]),
    ],
)
async def test_filters(small_client, params: dict, expected: list[int]) -> None:
    assert await _ids(small_client, **params, limit=100) == expected


async def test_email_and_ids_filters_combine(small_client) -> None:
    # email matches 1 and 14 (case-insensitively); ids narrows that down, it does not widen it
    assert await _ids(small_client, email="alice.smith@gmail.com", ids="14,2") == [14]
    assert await _ids(small_client, email="alice.smith@gmail.com", ids="2") == []


async def test_repeated_ids_parameter(small_client) -> None:
    response = await small_client.get("/api/3/contacts?ids[]=9&ids[]=4&ids[]=3")
    assert [c["id"] for c in response.json()["contacts"]] == ["4", "9"]


async def test_bad_filter_values_answer_400_naming_the_parameter(small_client) -> None:
    for params, name in (
        ({"listid": "abc"}, "listid"),
        ({"filters[updated_after]": "yesterday"}, "filters[updated_after]"),
        ({"orders[id]": "sideways"}, "orders[id]"),
        ({"segmentid": "4"}, "does not implement segmentid"),
        ({"orders[email]": "ASC"}, "does not implement orders[email]"),
    ):
        response = await small_client.get("/api/3/contacts", params=params)
        assert response.status_code == 400
        assert name in response.json()["message"]


async def test_includes_come_back_as_top_level_arrays(small_client) -> None:
    body = (
        await small_client.get(
            "/api/3/contacts",
            params={"ids[]": [1, 2], "include": "contactLists,contactTags,fieldValues"},
        )
    ).json()
    assert [m["id"] for m in body["contactLists"]] == ["1", "2", "3"]
    assert {m["contact"] for m in body["contactLists"]} == {"1", "2"}
    assert [t["tag"] for t in body["contactTags"]] == ["1", "2"]
    assert [v["value"] for v in body["fieldValues"]] == ["United States"]
    assert "contactLists" not in body["contacts"][0]  # the join is on the `contact` key only
    plain = (await small_client.get("/api/3/contacts", params={"ids[]": 1})).json()
    assert "contactLists" not in plain and "contactLists" not in plain["contacts"][0]


async def test_one_include_only(small_client) -> None:
    body = (
        await small_client.get("/api/3/contacts", params={"ids[]": 2, "include": "contactTags"})
    ).json()
    assert set(body) == {"scoreValues", "contacts", "contactTags", "meta"}


async def test_single_contact_and_its_memberships(small_client) -> None:
    body = (await small_client.get("/api/3/contacts/1")).json()
    assert body["contact"]["email"] == "alice.smith@gmail.com"
    assert body["contact"]["contactLists"] == ["1", "2"]
    assert [m["list"] for m in body["contactLists"]] == ["1", "2"]
    assert [v["field"] for v in body["fieldValues"]] == ["2"]
    assert "contactTags" not in body  # the single-contact read does not sideload tags
    lists = (await small_client.get("/api/3/contacts/2/contactLists")).json()["contactLists"]
    assert [(m["list"], m["status"]) for m in lists] == [("1", "2")]
    tags = (await small_client.get("/api/3/contacts/14/contactTags")).json()["contactTags"]
    assert [t["tag"] for t in tags] == ["3"]
    values = (await small_client.get("/api/3/contacts/5/fieldValues")).json()["fieldValues"]
    assert [v["value"] for v in values] == ["Acme"]


@pytest.mark.parametrize(
    "path",
    ["/api/3/contacts/3", "/api/3/contacts/3/contactLists", "/api/3/contacts/999/fieldValues"],
)
async def test_missing_contact_is_404_with_the_real_body(small_client, path: str) -> None:
    response = await small_client.get(path)
    assert response.status_code == 404
    contact_id = path.split("/")[4]
    assert response.json() == {"message": f"No Result found for Subscriber with id {contact_id}"}


async def test_account_wide_memberships_ignore_filters_and_page_by_offset(small_client) -> None:
    page = (await small_client.get("/api/3/contactLists", params={"limit": 5, "offset": 10})).json()
    assert page["meta"]["total"] == "12"  # membership 4 does not exist: ids have gaps too
    assert [m["id"] for m in page["contactLists"]] == ["12", "13"]
    filtered = (
        await small_client.get("/api/3/contactLists", params={"filters[list]": 3, "limit": 100})
    ).json()
    assert filtered["meta"]["total"] == "12"


async def test_account_wide_contact_tags_filters(small_client) -> None:
    async def tags(**params: object) -> list[str]:
        body = (await small_client.get("/api/3/contactTags", params=params)).json()
        return [t["id"] for t in body["contactTags"]]

    assert await tags() == ["1", "2", "3", "4", "5"]
    assert await tags(**{"filters[tagid]": 3}) == ["4", "5"]
    assert await tags(**{"filters[subscriberid]": 5}) == ["3"]
    assert await tags(**{"filters[subscriberid]": 5, "filters[tagid]": 2}) == []
    assert await tags(**{"filters[nonsense]": 1}) == ["1", "2", "3", "4", "5"]


async def test_field_values_filter_by_field(small_client) -> None:
    body = (await small_client.get("/api/3/fieldValues", params={"filters[fieldid]": 1})).json()
    assert [v["value"] for v in body["fieldValues"]] == ["Acme", "Globex"]
    assert body["meta"]["total"] == "2"


async def test_catalog_reads(small_client) -> None:
    lists = (await small_client.get("/api/3/lists")).json()
    assert [row["name"] for row in lists["lists"]] == [
        "Newsletter",
        "Customers",
        "Webinar attendees",
    ]
    assert lists["meta"] == {"total": "3"}
    tags = (await small_client.get("/api/3/tags", params={"limit": 2})).json()
    assert [t["tag"] for t in tags["tags"]] == ["customer", "lead"]
    assert tags["meta"] == {"total": "3"}
    fields = (await small_client.get("/api/3/fields")).json()
    assert [(f["id"], f["perstag"]) for f in fields["fields"]] == [
        ("1", "COMPANY"),
        ("2", "COUNTRY"),
    ]
    me = (await small_client.get("/api/3/users/me")).json()["user"]
    assert (me["id"], me["username"], me["email"]) == ("1", "jdoe", "johndoe@acme.com")


async def test_unknown_path_is_json_404(small_client) -> None:
    response = await small_client.get("/api/3/deals")
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}
