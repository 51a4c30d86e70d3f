"""Fault injection: each fault looks as it does on a real network and never changes state."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from ac_hygiene.sandbox.activecampaign import DroppedConnection, Faults, generate_account
from ac_hygiene.sandbox.activecampaign.server import serve_in_thread
from ac_hygiene_tests.sandbox.activecampaign.conftest import KEY, client_for


@pytest.mark.parametrize(
    ("faults", "status"),
    [(Faults(p_500=1.0), 500), (Faults(p_503=1.0), 503), (Faults(p_429=1.0), 429)],
)
async def test_faulted_writes_are_not_applied(small_account, make_app, faults, status) -> None:
    app = make_app(small_account, faults=faults)
    async with client_for(app) as client:
        delete = await client.delete("/api/3/contacts/1")
        unsubscribe = await client.post(
            "/api/3/contactLists", json={"contactList": {"list": 1, "contact": 1, "status": 2}}
        )
        batch = await client.post(
            "/api/3/import/bulk_import", json={"contacts": [{"email": "x.y@acme.com"}] * 2}
        )
    assert {delete.status_code, unsubscribe.status_code, batch.status_code} == {status}
    assert 1 in small_account.contacts
    assert small_account.membership(1, 1).status == 1
    assert app.state.sandbox.imports.batches == {}
    assert app.state.sandbox.stats.faults[str(status)] == 3


async def test_fault_answers_look_like_the_real_ones(small_account, make_app) -> None:
    async with client_for(make_app(small_account, faults=Faults(p_503=1.0))) as client:
        unavailable = await client.get("/api/3/users/me")
    assert unavailable.headers["content-type"].startswith("text/html")
    async with client_for(make_app(small_account, faults=Faults(p_429=1.0))) as client:
        throttled = await client.get("/api/3/users/me")
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.headers["RateLimit-Remaining"] == "0"
    async with client_for(make_app(small_account, faults=Faults(p_500=1.0))) as client:
        broken = await client.get("/api/3/users/me")
    assert broken.json() == {"message": "Internal Server Error"}


async def test_truncated_json_has_a_matching_length_and_is_only_for_reads(
    small_account, make_app
) -> None:
    app = make_app(small_account, faults=Faults(p_truncated=1.0))
    async with client_for(app) as client:
        response = await client.get("/api/3/contacts", params={"limit": 5})
        write = await client.delete("/api/3/contacts/2")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content) > 100
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert write.status_code == 200 and 2 not in small_account.contacts  # a write is not cut
    assert app.state.sandbox.stats.faults["truncated"] == 1


async def test_dropped_connection_in_process_is_an_httpx_transport_error(
    small_account, make_app
) -> None:
    app = make_app(small_account, faults=Faults(p_drop=1.0))
    async with client_for(app) as client:
        with pytest.raises(httpx.TransportError):
            await client.delete("/api/3/contacts/1")
    assert 1 in small_account.contacts


def test_dropped_connection_over_a_socket_is_a_transport_error() -> None:
    from ac_hygiene.sandbox.activecampaign import create_app

    account = generate_account(30, seed=1)
    app = create_app(account, api_key=KEY, faults=Faults(p_drop=0.5, seed=3), rate_limit=None)
    outcomes = []
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"Api-Token": KEY}) as http,
    ):
        for _ in range(20):
            try:
                outcomes.append(http.get("/api/3/contacts").status_code)
            except httpx.TransportError as error:
                assert not isinstance(error, DroppedConnection)  # a genuine socket-level error
                outcomes.append("dropped")
    assert outcomes.count("dropped") == app.state.sandbox.stats.faults["drop"] > 0
    assert set(outcomes) == {200, "dropped"}


async def test_slow_answers_are_delayed_and_then_normal(small_account, make_app) -> None:
    app = make_app(small_account, faults=Faults(p_slow=1.0, slow_s=0.05))
    async with client_for(app) as client:
        started = time.perf_counter()
        response = await client.get("/api/3/users/me")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.05
    assert app.state.sandbox.stats.faults["slow"] == 1


async def test_same_seed_same_faults(make_app) -> None:
    async def run(seed: int) -> list[int]:
        app = make_app(generate_account(20), faults=Faults(p_500=0.3, p_503=0.2, seed=seed))
        async with client_for(app) as client:
            return [(await client.get("/api/3/users/me")).status_code for _ in range(40)]

    first = await run(9)
    assert first == await run(9)
    assert {200, 500, 503} <= set(first)
    assert first != await run(10)


def test_fault_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        Faults(p_500=0.6, p_503=0.6)
    with pytest.raises(ValueError, match="probability"):
        Faults(p_drop=1.5)
    with pytest.raises(ValueError, match="slow_s"):
        Faults(slow_s=-1)
