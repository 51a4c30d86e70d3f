"""POST /contacts and POST /fields: what restore and write-back rely on."""

from __future__ import annotations

from ac_hygiene.sandbox.activecampaign import SandboxAccount
from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for


async def test_create_contact_with_field_values_and_refuse_a_duplicate(
    small_account: SandboxAccount, make_app
) -> None:
    app = make_app(small_account)
    field_id = min(small_account.fields)
    async with client_for(app) as client:
        body = {
            "contact": {
                "email": "new.person@acme.com",
                "firstName": "New",
                "phone": "12",
                "fieldValues": [{"field": str(field_id), "value": "Blue"}],
            }
        }
        created = await client.post("/api/3/contacts", json=body)
        assert created.status_code == 201
        new_id = int(created.json()["contact"]["id"])
        contact = small_account.contacts[new_id]
        assert (contact.email, contact.first_name, contact.phone) == (
            "new.person@acme.com",
            "New",
            "12",
        )
        assert {(v.field, v.value) for v in small_account.field_values_of(new_id)} == {
            (field_id, "Blue")
        }
        again = await client.post("/api/3/contacts", json=body)
        assert again.status_code == 422 and again.json()["errors"][0]["code"] == "duplicate"
        bad = await client.post("/api/3/contacts", json={"contact": {"email": "nope"}})
        assert bad.status_code == 422


async def test_create_field_and_refuse_a_taken_title(small_account: SandboxAccount, make_app):
    app = make_app(small_account)
    async with client_for(app) as client:
        made = await client.post(
            "/api/3/fields", json={"field": {"title": "Status", "type": "text"}}
        )
        assert made.status_code == 201
        assert "Status" in {f["title"] for f in made.json()["fields"]}
        assert any(f.title == "Status" for f in small_account.fields.values())
        taken = await client.post(
            "/api/3/fields", json={"field": {"title": "status", "type": "text"}}
        )
        assert taken.status_code == 422 and taken.json()["errors"][0]["code"] == "duplicate"
