"""Every request the client sends is one the ActiveCampaign v3 API documents."""

from __future__ import annotations

from datetime import date

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import extract_contacts
from ac_hygiene.activecampaign.reads import (
    account_summary,
    fetch_field_values,
    fetch_fields,
    fetch_lists,
)
from ac_hygiene.activecampaign.writes import (
    ImportContact,
    add_tag,
    bulk_import,
    delete_contact,
    remove_tag,
    set_field_value,
    unsubscribe,
)
from ac_hygiene_tests.sandbox.activecampaign.openapi_conformance import assert_request_conforms


async def test_all_requests_conform_to_the_openapi_description(sandbox) -> None:
    with sandbox(contacts=150, record_requests=True, import_delay_s=0.01) as sb:
        sb.account.exclusions.add("excluded@example.com")
        async with ActiveCampaignClient(sb.connection(), rate=500.0) as client:
            await account_summary(client)
            await fetch_lists(client)
            await fetch_fields(client)
            await fetch_field_values(client)
            await fetch_field_values(client, field_id=2)
            await extract_contacts(client, "all")
            await extract_contacts(client, "list-1", memberships="tables")
            await extract_contacts(client, "tag-2", updated_after=date(2025, 6, 1))
            contact_id = min(sb.account.contacts)
            await unsubscribe(client, contact_id, 1)
            contact_tag = await add_tag(client, contact_id, 3)
            assert contact_tag is not None
            await remove_tag(client, contact_tag)
            await set_field_value(client, contact_id, 1, "Acme")
            await delete_contact(client, contact_id)
            await bulk_import(
                client,
                [
                    ImportContact(f"b{i}@example.com", fields=((1, "x"),), subscribe=(2,))
                    for i in range(12)
                ]
                + [ImportContact("excluded@example.com", unsubscribe=(1,), tags=("t",))],
                poll_interval_s=0.01,
            )
        recorded = list(sb.app.state.sandbox.recorded)
    endpoints = {(r.method, r.path.split("/")[3]) for r in recorded}
    assert len(recorded) > 20
    assert {("GET", "contacts"), ("POST", "import"), ("DELETE", "contactTags")} <= endpoints
    for request in recorded:
        assert_request_conforms(request.method, request.path, request.params, request.json_body)
