"""Account-wide request pacing: one limiter per ActiveCampaign account per process.

ActiveCampaign allows 5 requests per second per *account*, shared by every key and every client.
Open-source connectors throttle per request loop (or not at all) and so trip 429s as soon as two
streams run at once. Here every client of one account (keyed by its normalized API URL) draws
from the same limiter, whatever thread or event loop it runs in, and a 429's `Retry-After` pauses
the whole account rather than the single request that received it.

The algorithm is GCRA (the "virtual scheduling" form of a token bucket): each request reserves
the next slot on a shared timeline, so requests go out evenly spaced at `rate` per second with at
most `burst` of them back to back. Reservations are made under a `threading.Lock` and the waiting
happens outside it with `asyncio.sleep`, so the limiter is safe across event loops and threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: ActiveCampaign's documented allowance (requests per second per account).
ACCOUNT_RATE_LIMIT = 5.0
#: Paced a little under the allowance: measured against the sandbox (see benchmarks/extract.py),
#: this never draws a 429 and uses more than 90% of the allowance.
DEFAULT_RATE = 4.8
DEFAULT_BURST = 1

#: Bulk import allows 100 multi-contact requests per minute. GCRA lets at most
#: `rate * window + burst` requests into any window, so 95/min with a burst of 5 stays within 100.
BULK_IMPORT_RATE = 95 / 60
BULK_IMPORT_BURST = 5


@dataclass
class LimiterStats:
    acquired: int = 0
    waited_s: float = 0.0
    pauses: int = 0


class RateLimiter:
    """Evenly paced slots at `rate` per second, at most `burst` back to back, pausable."""

    def __init__(
        self,
        rate: float,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._interval = 1.0 / self.rate
        self._tolerance = (self.burst - 1) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self._paused_until = 0.0
        self.stats = LimiterStats()

    def reserve(self) -> float:
        """Take the next slot; return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._tat - self._tolerance, self._paused_until)
            self._tat = max(self._tat, start) + self._interval
            self.stats.acquired += 1
            return start - now

    def pause(self, seconds: float) -> None:
        """Hold every request of the account for `seconds` (a 429's Retry-After).

        After the pause requests resume one interval apart, without a burst: the server's own
        bucket has only just refilled.
        """
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.stats.pauses += 1
            self._tat = max(self._tat, self._paused_until + self._tolerance)

    def slow_down(self, rate: float, burst: int) -> None:
        """Adopt a lower rate or burst in place, so every holder of this limiter sees it."""
        with self._lock:
            if rate < self.rate:
                self.rate = float(rate)
                self._interval = 1.0 / self.rate
            self.burst = max(1, min(self.burst, int(burst)))
            self._tolerance = (self.burst - 1) * self._interval

    def paused_for(self) -> float:
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    async def acquire(self) -> float:
        """Wait for a slot; return the seconds waited. A pause set while waiting is honoured."""
        waited = 0.0
        while True:
            delay = self.reserve()
            if delay > 0:
                await asyncio.sleep(delay)
                waited += delay
            # A 429 elsewhere may have paused the account while this request slept on a slot
            # reserved before the pause: take a new slot after the pause instead.
            if self.paused_for() <= 0:
                break
        with self._lock:
            self.stats.waited_s += waited
        return waited


class _Registry:
    """Process-wide limiters keyed by (account API URL, purpose)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[tuple[str, str], RateLimiter] = {}

    def get(self, api_url: str, purpose: str, rate: float, burst: int) -> RateLimiter:
        """The shared limiter; the lowest rate and burst any caller asked for apply to all."""
        key = (api_url, purpose)
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = self._limiters[key] = RateLimiter(rate, burst)
            else:
                limiter.slow_down(rate, burst)
            return limiter

    def clear(self) -> None:
        with self._lock:
            self._limiters.clear()


_REGISTRY = _Registry()


def account_limiter(
    api_url: str, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST
) -> RateLimiter:
    """The one 5 req/s limiter of the account at `api_url` in this process."""
    return _REGISTRY.get(api_url, "requests", rate, burst)


def bulk_import_limiter(api_url: str) -> RateLimiter:
    """The account's limiter for multi-contact bulk imports (100 per minute), on top of the 5/s."""
    return _REGISTRY.get(api_url, "bulk_import", BULK_IMPORT_RATE, BULK_IMPORT_BURST)


def forget_account_limiters() -> None:
    """Drop every shared limiter: for tests, where a loopback port (and so an "account" URL)
    can be reused by a different sandbox with a different pace."""
    _REGISTRY.clear()
