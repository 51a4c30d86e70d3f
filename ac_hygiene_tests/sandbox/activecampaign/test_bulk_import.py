"""Bulk import: request limits, the import quota, whole-batch validation, batch life cycle."""

from __future__ import annotations

import pytest

from ac_hygiene.sandbox.activecampaign.bulk_import import MULTI_QUOTA, SINGLE_QUOTA
from ac_hygiene_tests.sandbox.activecampaign.conftest import client_for


@pytest.fixture
def app(small_account, make_app):
    return make_app(small_account, import_delay_s=1.0)


@pytest.fixture
async def client(app):
    async with client_for(app) as client:
        yield client


def _people(n: int, domain: str = "umbrella.io") -> list[dict]:
    return [{"email": f"person.number{i}@{domain}", "first_name": f"P{i}"} for i in range(n)]


async def _status(client, batch_id: str) -> dict:
    response = await client.get("/api/3/import/info", params={"batchId": batch_id})
    assert response.status_code == 200
    return response.json()


async def test_batch_goes_false_waiting_active_completed_and_applies_at_the_end(
    client, small_account, clock
) -> None:
    before = len(small_account.contacts)
    response = await client.post("/api/3/import/bulk_import", json={"contacts": _people(12)})
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["queued_contacts"]) == (1, 12)
    batch = body["batchId"]
    seen = []
    for _ in range(4):
        info = await _status(client, batch)
        seen.append(info["status"])
        if info["status"] != "completed":
            assert info["success"] == [] and len(small_account.contacts) == before
        clock.advance(1.0)
    assert seen == [False, "waiting", "active", "completed"]
    assert len(info["success"]) == 12 and info["failure"] == []
    assert len(small_account.contacts) == before + 12
    new_ids = sorted(int(i) for i in info["success"])
    assert new_ids[0] == 16  # ids continue after the fixture's gap
    assert small_account.contacts[new_ids[0]].first_name == "P0"


async def test_reads_see_a_completed_batch_without_polling_import_info(client, clock) -> None:
    await client.post("/api/3/import/bulk_import", json={"contacts": _people(3, "globex.com")})
    found = await client.get("/api/3/contacts", params={"email_like": "globex.com"})
    assert found.json()["meta"]["total"] == "1"  # info@globex.com only: not applied yet
    clock.advance(3.0)
    found = await client.get("/api/3/contacts", params={"email_like": "globex.com"})
    assert found.json()["meta"]["total"] == "4"


async def test_application_rules(client, small_account, clock) -> None:
    contacts = [
        # existing contact, matched case-insensitively: updated, not duplicated
        {
            "email": "BOB.JONES@gmail.com",
            "first_name": "Robert",
            "tags": ["Customer", "brand new tag"],
            "fields": [{"id": 1, "value": "Bobco"}],
            # bob unsubscribed from list 1: subscribe must not resubscribe him
            "subscribe": [{"listid": 1}, {"listid": "3"}],
            "unsubscribe": [{"listid": 2}],
        },
        {"email": "do-not-import@acme.com"},  # on the exclusion list: skipped silently
        {"email": "invalid.email@invalidDomain"},  # passes the coarse check, fails when run
        {"email": "new.one@initech.com", "subscribe": [{"listid": 42}]},  # unknown list
        {"email": "fresh.face@initech.com", "unsubscribe": [{"listid": 1}]},
    ]
    batch = (await client.post("/api/3/import/bulk_import", json={"contacts": contacts})).json()
    assert batch["queued_contacts"] == 5
    clock.advance(3.0)
    info = await _status(client, batch["batchId"])
    assert info["status"] == "completed"
    assert info["failure"] == ["invalid.email@invalidDomain", "new.one@initech.com"]
    assert info["success"][0] == "2" and len(info["success"]) == 2
    bob = small_account.contacts[2]
    assert (bob.email, bob.first_name, bob.last_name) == ("bob.jones@gmail.com", "Robert", "Jones")
    assert small_account.membership(2, 1).status == 2
    assert small_account.membership(2, 3).status == 1
    assert small_account.membership(2, 2).status == 2
    tag_names = {small_account.tags[t.tag].tag for t in small_account.tags_of(2)}
    assert tag_names == {"lead", "customer", "brand new tag"}
    assert [v.value for v in small_account.field_values_of(2)] == ["Bobco"]
    assert small_account.find_by_email("new.one@initech.com") == []
    assert small_account.find_by_email("do-not-import@acme.com") == []
    fresh = small_account.find_by_email("fresh.face@initech.com")[0]
    assert small_account.membership(fresh.id, 1).status == 2


async def test_whole_batch_rejected_when_one_email_is_malformed(client, small_account) -> None:
    contacts = _people(5)
    contacts[3]["email"] = "not-an-address"
    contacts[4] = {"first_name": "no email"}
    response = await client.post("/api/3/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] == 0
    assert "not queued" in body["message"]
    assert [r["contact"] for r in body["failureReasons"]] == [3, 4]
    assert body["failureReasons"][0]["failureReason"] == "Field\u2018 email\u2019 incorrect format"
    assert small_account.find_by_email("person.number0@umbrella.io") == []


@pytest.mark.parametrize("not_ascii", ["\u00b2", "\u0663"])  # str.isdigit() accepts both
async def test_non_ascii_digit_ids_reject_the_whole_batch(
    client, small_account, clock, not_ascii: str
) -> None:
    contacts = _people(3)
    contacts[1]["fields"] = [{"id": not_ascii, "value": "x"}]
    contacts[2]["subscribe"] = [{"listid": not_ascii}]
    response = await client.post("/api/3/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 400
    assert [r["contact"] for r in response.json()["failureReasons"]] == [1, 2]
    clock.advance(10)  # nothing was queued: later requests are answered normally
    assert (await client.get("/api/3/users/me")).status_code == 200
    assert small_account.find_by_email("person.number0@umbrella.io") == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"contacts": _people(251)}, "Up to 250 contacts"),
        ({"contacts": []}, "'contacts' is a required field"),
        ({"people": _people(2)}, "'contacts' is a required field"),
    ],
)
async def test_request_limits(client, payload: dict, reason: str) -> None:
    response = await client.post("/api/3/import/bulk_import", json=payload)
    assert response.status_code == 400
    assert reason in response.json()["failureReasons"][0]


async def test_payload_of_400000_bytes_is_refused(client) -> None:
    contacts = [{"email": f"p{i}@umbrella.io", "first_name": "x" * 2000} for i in range(200)]
    response = await client.post("/api/3/import/bulk_import", json={"contacts": contacts})
    assert response.status_code == 400
    assert "400,000 bytes" in response.json()["failureReasons"][0]
    not_json = await client.post("/api/3/import/bulk_import", content=b"{,}")
    assert not_json.status_code == 400


async def test_import_quota_100_multi_and_20_single_per_minute(app, client, clock) -> None:
    multi = [
        (await client.post("/api/3/import/bulk_import", json={"contacts": _people(2)})).status_code
        for _ in range(101)
    ]
    assert multi == [200] * 100 + [400]
    refused = await client.post("/api/3/import/bulk_import", json={"contacts": _people(2)})
    assert refused.json() == {
        "success": 0,
        "message": "Rate limit exceeded.",
        "failureReasons": [MULTI_QUOTA],
    }
    single = [
        (await client.post("/api/3/import/bulk_import", json={"contacts": _people(1)})).json()
        for _ in range(21)
    ]
    assert [s["success"] for s in single] == [1] * 20 + [0]  # a separate quota
    assert single[-1]["failureReasons"] == [SINGLE_QUOTA]
    clock.advance(60.0)
    again = await client.post("/api/3/import/bulk_import", json={"contacts": _people(2)})
    assert again.status_code == 200
    assert app.state.sandbox.stats.import_rate_limited == 3


async def test_import_info_without_or_with_an_unknown_batch(client) -> None:
    missing = await client.get("/api/3/import/info")
    assert missing.status_code == 400
    assert missing.json() == {"success": 0, "message": "'batchId' is a required field."}
    unknown = await _status(client, "0641fbdd-f62f-4c2c-ba02-3a83d5d11ac9")
    assert unknown == {"status": False, "success": [], "failure": []}
