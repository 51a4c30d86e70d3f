"""The account-wide limiter against the sandbox's real 5 req/s token bucket."""

from __future__ import annotations

import asyncio
import threading

from ac_hygiene.activecampaign.client import ActiveCampaignClient
from ac_hygiene.activecampaign.contacts import extract_contacts_sync
from ac_hygiene.activecampaign.reads import users_me


async def test_two_clients_of_one_account_share_the_allowance(sandbox) -> None:
    """Each client alone paces at 4.8/s; together they would send 9.6/s if not shared."""
    with sandbox(contacts=10, rate_limit=5.0) as sb:
        async with (
            ActiveCampaignClient(sb.connection()) as first,
            ActiveCampaignClient(sb.connection()) as second,
        ):
            assert first.limiter is second.limiter
            await asyncio.gather(*(users_me(c) for c in (first, second) for _ in range(8)))
        assert first.stats.http_429 + second.stats.http_429 == 0
        assert sb.stats.rate_limited == 0
        assert sb.stats.requests["GET /api/3/users/me"] == 16


def test_threads_with_their_own_event_loops_share_it_too(sandbox) -> None:
    """Two Dagster steps in one process run their own loops in their own threads."""
    with sandbox(contacts=700, rate_limit=5.0) as sb:
        results = []

        def run() -> None:
            results.append(extract_contacts_sync(sb.connection(), "all"))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 2
        assert results[0].equals(results[1])
        assert sb.stats.rate_limited == 0


async def test_a_429_pauses_the_whole_account_and_nothing_is_lost(sandbox) -> None:
    """A client pacing at 40/s against 5/s: 429s with Retry-After, then every answer arrives."""
    with sandbox(contacts=10, rate_limit=5.0) as sb:
        async with ActiveCampaignClient(sb.connection(), rate=40.0, burst=5) as client:
            users = await asyncio.gather(*(users_me(client) for _ in range(14)))
        assert len(users) == 14
        assert client.stats.http_429 >= 1
        assert client.limiter.stats.pauses >= 1
        # After a pause the account resumes without a burst, so 429s stay few.
        assert client.stats.http_429 <= 8
