from __future__ import annotations

import asyncio

import pytest

from ac_hygiene.activecampaign.aio import gather_all
from ac_hygiene.activecampaign.errors import AuthenticationFailed


async def test_results_in_order() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert await gather_all(value(1, 0.02), value(2, 0.0), value(3, 0.01)) == [1, 2, 3]


async def test_first_error_is_raised_as_itself_and_the_rest_cancelled() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def refused() -> None:
        await asyncio.sleep(0)
        raise AuthenticationFailed("403")

    with pytest.raises(AuthenticationFailed):
        await gather_all(slow(), refused())
    assert cancelled.is_set()
