"""Authentication bodies, the inactive plan, and the 5 requests per second per account."""

from __future__ import annotations

import pytest

from ac_hygiene.sandbox.activecampaign import create_app
from ac_hygiene_tests.sandbox.activecampaign.conftest import KEY, client_for


async def test_auth_failures_are_403_with_the_real_bodies(small_account, make_app) -> None:
    app = make_app(small_account)
    async with client_for(app, key=None) as anonymous:
        missing = await anonymous.get("/api/3/users/me")
        blank = await anonymous.get("/api/3/users/me", headers={"Api-Token": "  "})
    async with client_for(app, key="f" * 64) as wrong:
        wrong_me = await wrong.get("/api/3/contacts")
        wrong_lists = await wrong.get("/api/3/lists")
    assert (missing.status_code, missing.json()) == (403, {"message": "Forbidden"})
    assert blank.json() == {"message": "Forbidden"}
    assert wrong_me.status_code == 403
    assert wrong_me.json() == {"message": "You don't have permission to access this resource"}
    assert wrong_lists.status_code == 403
    assert wrong_lists.json()["errors"][0]["title"] == "Forbidden"
    assert app.state.sandbox.stats.auth_failures == 4


async def test_key_never_appears_in_answers_or_reprs(small_account, make_app) -> None:
    app = make_app(small_account, record_requests=True)
    async with client_for(app) as client:
        response = await client.get("/api/3/users/me")
    assert KEY not in response.text
    state = app.state.sandbox
    assert (
        KEY not in repr(state) and KEY not in repr(state.stats) and KEY not in repr(state.recorded)
    )


async def test_inactive_account_answers_402_on_every_call(small_account, make_app) -> None:
    app = make_app(small_account)
    small_account.active = False
    async with client_for(app) as client:
        statuses = {
            (await client.get(path)).status_code
            for path in ("/api/3/users/me", "/api/3/contacts", "/api/3/contacts/1")
        }
        delete = await client.delete("/api/3/contacts/1")
    assert statuses == {402} and delete.status_code == 402
    assert 1 in small_account.contacts  # refused, not applied
    small_account.active = True
    async with client_for(app) as client:
        assert (await client.get("/api/3/users/me")).status_code == 200


async def test_burst_then_429_with_headers(small_account, make_app, clock) -> None:
    app = make_app(small_account, rate_limit=5.0)
    async with client_for(app) as client:
        answers = [await client.get("/api/3/users/me") for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [r.headers["RateLimit-Remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert all(r.headers["RateLimit-Limit"] == "5" for r in answers)
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["RateLimit-Reset"]) >= 1
    assert app.state.sandbox.stats.rate_limited == 1


async def test_client_pacing_at_the_limit_never_sees_429(small_account, make_app, clock) -> None:
    app = make_app(small_account, rate_limit=5.0)
    async with client_for(app) as client:
        statuses = []
        for i in range(200):
            # 5 per second on average, with jitter in the spacing
            clock.advance(0.2 + (0.05 if i % 2 else -0.05))
            statuses.append((await client.get("/api/3/users/me")).status_code)
    assert set(statuses) == {200}
    assert app.state.sandbox.stats.peak_requests_per_second <= 6


async def test_refused_requests_take_no_token(small_account, make_app, clock) -> None:
    app = make_app(small_account, rate_limit=5.0)
    async with client_for(app) as client:
        for _ in range(5):
            assert (await client.get("/api/3/users/me")).status_code == 200
        for _ in range(20):  # hammering while throttled does not push the wait further out
            assert (await client.get("/api/3/users/me")).status_code == 429
        clock.advance(0.2)
        assert (await client.get("/api/3/users/me")).status_code == 200
    async with client_for(app, key="f" * 64) as wrong:
        for _ in range(10):
            assert (await wrong.get("/api/3/users/me")).status_code == 403  # not the account's


async def test_the_limit_is_per_account_and_configurable(small_account, clock) -> None:
    app = create_app(small_account, api_key=KEY, rate_limit=2.0, clock=clock)
    async with client_for(app) as one, client_for(app) as two:
        first = [(await c.get("/api/3/users/me")).status_code for c in (one, two, one)]
    assert first == [200, 200, 429]  # two clients share the account's allowance


async def test_writes_refused_by_the_limit_are_not_applied(small_account, make_app) -> None:
    app = make_app(small_account, rate_limit=1.0)
    async with client_for(app) as client:
        assert (await client.get("/api/3/users/me")).status_code == 200
        response = await client.delete("/api/3/contacts/1")
    assert response.status_code == 429
    assert 1 in small_account.contacts


async def test_zero_or_none_disables_the_limit(small_account, clock) -> None:
    for rate in (0.0, None):
        app = create_app(small_account, api_key=KEY, rate_limit=rate, clock=clock)
        async with client_for(app) as client:
            statuses = {(await client.get("/api/3/users/me")).status_code for _ in range(30)}
        assert statuses == {200}
        assert "RateLimit-Limit" not in (await _one(app)).headers


async def _one(app):
    async with client_for(app) as client:
        return await client.get("/api/3/users/me")


def test_negative_rate_limit_is_refused(small_account) -> None:
    with pytest.raises(ValueError, match="positive"):
        create_app(small_account, api_key=KEY, rate_limit=-1.0)
