"""Fixtures for the sandbox ActiveCampaign tests: a key, a steppable clock, in-process clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from ac_hygiene.sandbox.activecampaign import SandboxAccount, create_app, load_account

KEY = "c0ffee" + "0123456789abcdef" * 4 + "5a4d"  # 74 hex-ish characters, like a real key
BASE = "https://demo.api-us1.com"
SMALL = (
    Path(__file__).resolve().parents[3]
    / "ac_hygiene"
    / "sandbox"
    / "activecampaign"
    / "fixtures"
    / "small.json"
)


class FakeClock:
    """POSIX seconds that move only when told to: rate limits and import stages, stepped."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def small_account() -> SandboxAccount:
    return load_account(SMALL)


def client_for(app: Starlette, key: str | None = KEY) -> httpx.AsyncClient:
    headers = {"Api-Token": key} if key is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers)


@pytest.fixture
def make_app(clock: FakeClock) -> Callable[..., Starlette]:
    """create_app with the test key and fake clock; no rate limit unless asked for."""

    def make(account: SandboxAccount, **options: object) -> Starlette:
        options.setdefault("rate_limit", None)
        options.setdefault("clock", clock)
        return create_app(account, api_key=KEY, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def small_client(
    small_account: SandboxAccount, make_app: Callable[..., Starlette]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(small_account)) as client:
        yield client
