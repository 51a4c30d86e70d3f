"""ActiveCampaign's throttles: 5 requests per second per account, and the bulk-import quota.

Choices (the real service documents the limit, not the algorithm):
- A token bucket of `burst` tokens (default: the rate, so 5) refilled at `rate` per second. A
  client that paces itself at or under the rate never sees a 429, even with a little jitter in
  its spacing, which a strict sliding one-second window would punish; a client that bursts gets
  exactly `burst` requests through and then one per 1/rate seconds.
- A request answered 429 takes no token: a client that waits as told is not punished for having
  asked. Requests refused earlier (403 wrong key, 402 inactive account) take none either: they
  are not the account's traffic. Everything else takes one, including 4xx answers and injected
  faults, since the real gateway counts before the application answers.
- `Retry-After` is whole seconds, at least 1, as the real API sends it; the time until a token is
  free is usually 0.2 s, so a client that honours it loses a little throughput, as it does live.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # whole seconds until the bucket is full again
    retry_after_s: int  # whole seconds (>= 1) until a refused request would pass; 0 if allowed

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class TokenBucket:
    def __init__(self, rate: float, clock: Callable[[], float], burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate_limit must be positive (requests per second), got {rate}")
        self.rate = float(rate)
        self.burst = burst if burst is not None else max(1, round(rate))
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> Decision:
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
            missing = 0.0 if allowed else 1.0 - self._tokens
            return Decision(
                allowed=allowed,
                limit=self.burst,
                remaining=int(self._tokens),
                reset_s=math.ceil((self.burst - self._tokens) / self.rate),
                retry_after_s=0 if allowed else max(1, math.ceil(missing / self.rate)),
            )


class WindowQuota:
    """At most `limit` events in any `window_s` seconds (bulk import: 100 or 20 a minute)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: deque[float] = deque()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        with self._lock:
            now = self._clock()
            while self._events and self._events[0] <= now - self.window_s:
                self._events.popleft()
            if len(self._events) >= self.limit:
                return False
            self._events.append(now)
            return True
