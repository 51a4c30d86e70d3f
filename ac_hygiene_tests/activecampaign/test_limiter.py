from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from ac_hygiene.activecampaign import limiter as limiter_module
from ac_hygiene.activecampaign.limiter import (
    BULK_IMPORT_BURST,
    BULK_IMPORT_RATE,
    RateLimiter,
    account_limiter,
    bulk_import_limiter,
)

_real_sleep = asyncio.sleep


class FakeClock:
    """Time that moves only when the code under test sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await _real_sleep(0)  # let other tasks run "during" the sleep
        self.now += max(0.0, seconds)


def test_paces_evenly_without_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=1, clock=clock)
    delays = [limiter.reserve() for _ in range(6)]
    assert delays == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_burst_then_even_pace() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=3, clock=clock)
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.2, 0.4])


def test_idle_time_refills_but_never_beyond_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=2, clock=clock)
    limiter.reserve()
    clock.now += 100.0
    delays = [limiter.reserve() for _ in range(4)]
    assert delays == pytest.approx([0.0, 0.0, 0.2, 0.4])


def _max_in_window(times: list[float], window: float) -> int:
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + window - 1e-9))
    return best


@pytest.mark.parametrize(("rate", "burst"), [(4.8, 1), (4.5, 1), (5.0, 1)])
def test_never_more_than_five_in_any_second(rate: float, burst: int) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, burst=burst, clock=clock)
    times = [clock.now + limiter.reserve() for _ in range(200)]
    assert _max_in_window(times, 1.0) <= 5


def test_bulk_import_limiter_never_exceeds_100_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(BULK_IMPORT_RATE, burst=BULK_IMPORT_BURST, clock=clock)
    times = [clock.now + limiter.reserve() for _ in range(400)]
    assert _max_in_window(times, 60.0) <= 100
    assert _max_in_window(times, 60.0) >= 95


def test_pause_holds_everyone_then_resumes_without_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=5, clock=clock)
    limiter.pause(2.0)
    delays = [limiter.reserve() for _ in range(3)]
    assert delays == pytest.approx([2.0, 2.2, 2.4])
    assert limiter.stats.pauses == 1


async def test_a_pause_set_while_waiting_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(limiter_module.asyncio, "sleep", clock.sleep)
    limiter = RateLimiter(5.0, burst=1, clock=clock)
    start = clock.now
    limiter.reserve()  # slot 0 taken: the next waits 0.2 s
    waiter = asyncio.ensure_future(limiter.acquire())
    await _real_sleep(0)  # the waiter has reserved the 0.2 s slot and sleeps on it
    assert clock.now == start
    limiter.pause(3.0)  # a 429 arrives for another request meanwhile
    await waiter
    assert clock.now - start >= 3.0


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(5, burst=0)


def test_one_limiter_per_account_and_purpose() -> None:
    url_a = f"https://a{uuid.uuid4().hex[:8]}.api-us1.com"
    url_b = f"https://b{uuid.uuid4().hex[:8]}.api-us1.com"
    assert account_limiter(url_a) is account_limiter(url_a)
    assert account_limiter(url_a) is not account_limiter(url_b)
    assert bulk_import_limiter(url_a) is bulk_import_limiter(url_a)
    assert bulk_import_limiter(url_a) is not account_limiter(url_a)


def test_a_lower_rate_slows_the_shared_limiter_in_place() -> None:
    url = f"https://c{uuid.uuid4().hex[:8]}.api-us1.com"
    first = account_limiter(url, rate=4.8, burst=3)
    second = account_limiter(url, rate=2.0, burst=1)
    assert first is second
    assert first.rate == 2.0
    assert first.burst == 1
    account_limiter(url, rate=4.8, burst=5)
    assert first.rate == 2.0


def test_threads_share_slots_without_double_booking() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, burst=1, clock=clock)
    results: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            delay = limiter.reserve()
            with lock:
                results.append(delay)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == pytest.approx([i / 10 for i in range(200)])
