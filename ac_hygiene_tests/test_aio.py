"""The one async-to-sync bridge: from plain code, and from inside a running event loop."""

import asyncio

import pytest

from ac_hygiene.aio import run_sync


async def _double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


async def _fail() -> None:
    raise LookupError("boom")


def test_from_synchronous_code() -> None:
    assert run_sync(_double(21)) == 42
    with pytest.raises(LookupError, match="boom"):
        run_sync(_fail())


def test_inside_a_running_loop() -> None:
    """Where `asyncio.run` raises (a notebook, an async server): a helper thread runs it."""

    async def caller() -> int:
        with pytest.raises(LookupError, match="boom"):
            run_sync(_fail())
        return run_sync(_double(4))

    assert asyncio.run(caller()) == 8


def test_the_resource_bridge_works_inside_a_running_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ActiveCampaignResource.run` used `asyncio.run` and failed inside a running loop."""
    from ac_hygiene.defs.resources import ActiveCampaignResource

    seen: list[str] = []

    async def work(client: object) -> str:
        seen.append(type(client).__name__)
        return "done"

    resource = ActiveCampaignResource(
        connection_name="x", api_url="https://acct.api-us1.com", api_key="k" * 64
    )

    async def caller() -> str:
        return resource.run(work)

    assert asyncio.run(caller()) == "done"
    assert seen == ["ActiveCampaignClient"]
