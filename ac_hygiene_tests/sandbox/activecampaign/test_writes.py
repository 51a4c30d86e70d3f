"""Write endpoints: each change lands in the account, and each failure answers as the API does."""

from __future__ import annotations

import pytest

from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for


@pytest.fixture
async def client(small_account, make_app):
    async with client_for(make_app(small_account)) as client:
        yield client


async def test_unsubscribe_and_resubscribe(client, small_account, clock) -> None:
    response = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": 1, "contact": 1, "status": 2}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["contactList"]["status"] == 2  # echoed as sent, as the real API does
    assert (body["contactList"]["contact"], body["contactList"]["list"]) == ("1", "1")
    assert body["contacts"][0]["id"] == "1"
    assert small_account.membership(1, 1).status == 2
    assert small_account.contacts[1].udate == int(clock())
    again = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": "1", "contact": "1", "status": "1"}}
    )
    assert again.json()["contactList"]["status"] == "1"
    assert small_account.membership(1, 1).status == 1


async def test_unsubscribing_a_non_member_creates_the_row(client, small_account) -> None:
    response = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": 3, "contact": 13, "status": 2}}
    )
    assert response.status_code == 200
    assert small_account.membership(13, 3).status == 2


async def test_contact_list_errors(client, small_account) -> None:
    missing_list = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": 3000, "contact": 1, "status": 2}}
    )
    assert missing_list.status_code == 403  # a 403 that is not an authentication failure
    assert missing_list.json() == {"message": "No Result found for _List with id 3000"}
    missing_contact = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": 1, "contact": 3, "status": 2}}
    )
    assert missing_contact.status_code == 404
    assert missing_contact.json() == {"message": "No Result found for Subscriber with id 3"}
    no_list = await client.post("/api/3/contactLists", json={"contactList": {"contact": 1}})
    assert no_list.status_code == 422
    assert no_list.json()["errors"][0]["source"]["pointer"] == "/data/attributes/list"
    bad_status = await client.post(
        "/api/3/contactLists", json={"contactList": {"list": 1, "contact": 1, "status": 3}}
    )
    assert bad_status.status_code == 422
    not_json = await client.post("/api/3/contactLists", content=b"{nope")
    assert not_json.status_code == 422
    assert small_account.membership(1, 1).status == 1


async def test_tag_untag(client, small_account) -> None:
    response = await client.post(
        "/api/3/contactTags", json={"contactTag": {"contact": 2, "tag": 3}}
    )
    assert response.status_code == 201
    row = response.json()["contactTag"]
    assert (row["contact"], row["tag"]) == ("2", "3")
    again = await client.post(
        "/api/3/contactTags", json={"contactTag": {"contact": "2", "tag": "3"}}
    )
    assert again.status_code == 201 and again.json()["contactTag"]["id"] == row["id"]
    assert [t.tag for t in small_account.tags_of(2)] == [2, 3]
    deleted = await client.delete(f"/api/3/contactTags/{row['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert [t.tag for t in small_account.tags_of(2)] == [2]
    gone = await client.delete(f"/api/3/contactTags/{row['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"message": f"No Result found for SubscriberTag with id {row['id']}"}


async def test_tag_errors(client) -> None:
    no_contact = await client.post(
        "/api/3/contactTags", json={"contactTag": {"contact": 3, "tag": 1}}
    )
    assert no_contact.status_code == 404
    assert no_contact.json()["errors"][0]["detail"] == "Contact not found"
    no_tag = await client.post("/api/3/contactTags", json={"contactTag": {"contact": 1, "tag": 77}})
    assert no_tag.status_code == 404
    missing = await client.post("/api/3/contactTags", json={"contactTag": {"tag": 1}})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["title"] == "Missing attribute"
    for not_ascii in ("\u00b2", "\u0663"):  # str.isdigit() says yes to both; they are no ids
        odd = await client.post(
            "/api/3/contactTags", json={"contactTag": {"contact": 1, "tag": not_ascii}}
        )
        assert odd.status_code == 422
        assert odd.json()["errors"][0]["title"] == "Invalid attribute"


async def test_field_values_create_and_update(client, small_account) -> None:
    created = await client.post(
        "/api/3/fieldValues", json={"fieldValue": {"contact": 2, "field": 1, "value": "Initech"}}
    )
    assert created.status_code == 200
    value = created.json()["fieldValue"]
    assert (value["contact"], value["field"], value["value"]) == (2, 1, "Initech")
    assert created.json()["contacts"][0]["id"] == "2"
    overwritten = await client.post(
        "/api/3/fieldValues", json={"fieldValue": {"contact": "2", "field": "1", "value": "Hooli"}}
    )
    assert overwritten.json()["fieldValue"]["id"] == value["id"]
    updated = await client.put(
        f"/api/3/fieldValues/{value['id']}",
        json={"fieldValue": {"contact": 2, "field": 1, "value": "Pied Piper"}},
    )
    assert updated.status_code == 200
    assert [(v.field, v.value) for v in small_account.field_values_of(2)] == [(1, "Pied Piper")]
    missing = await client.put(
        "/api/3/fieldValues/999", json={"fieldValue": {"contact": 2, "field": 1, "value": "x"}}
    )
    assert missing.status_code == 404
    no_field = await client.post(
        "/api/3/fieldValues", json={"fieldValue": {"contact": 2, "field": 9, "value": "x"}}
    )
    assert no_field.status_code == 404
    no_value = await client.post(
        "/api/3/fieldValues", json={"fieldValue": {"contact": 2, "field": 1}}
    )
    assert no_value.status_code == 422


async def test_delete_contact(client, small_account) -> None:
    response = await client.delete("/api/3/contacts/5")
    assert (response.status_code, response.json()) == (200, {})
    assert 5 not in small_account.contacts
    assert (await client.get("/api/3/contacts/5")).status_code == 404
    again = await client.delete("/api/3/contacts/5")
    assert again.status_code == 404
    assert again.json() == {"message": "No result found for contact with id 5"}
    tagged = (await client.get("/api/3/contactTags", params={"filters[tagid]": 1})).json()
    assert [t["contact"] for t in tagged["contactTags"]] == ["1"]  # the deleted one's tag is gone
