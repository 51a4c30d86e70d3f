"""What the sandbox saw, for benchmarks and tests: `app.state.sandbox.stats`.

`peak_requests_per_second` is the most requests admitted (past auth, holding a rate-limit token)
in any one-second window. The token bucket lets a burst through on top of the rate, so it can
reach burst + rate (10 at the defaults) without a single 429; a client pacing itself at 5 req/s
shows 5 or 6 (arrival jitter), one leaning on its burst more. `rate_limited_429` is the figure
that says whether a client respected the limit.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from typing import Any

_ID_SEGMENT = re.compile(r"(?<!^/api)/\d+(?=/|$)")


def endpoint_of(method: str, path: str) -> str:
    """`GET /api/3/contacts/{id}` for `GET /api/3/contacts/42`: one counter per endpoint."""
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


class SandboxStats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.rate_limited = 0  # 429s the limiter sent (injected 429s count under faults)
        self.import_rate_limited = 0  # bulk-import "Rate limit exceeded." 400s
        self.auth_failures = 0
        self.inactive_refusals = 0
        self.peak_requests_per_second = 0
        self._window: deque[float] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SandboxStats({self.snapshot()})"

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def count_request(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def admitted(self, now: float) -> None:
        with self._lock:
            self._window.append(now)
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            self.peak_requests_per_second = max(self.peak_requests_per_second, len(self._window))

    def snapshot(self) -> dict[str, Any]:
        """Plain numbers and dicts, ready for a benchmark's JSON line."""
        with self._lock:
            return {
                "requests_total": sum(self.requests.values()),
                "requests": dict(sorted(self.requests.items())),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "rate_limited_429": self.rate_limited,
                "import_rate_limited": self.import_rate_limited,
                "faults": dict(sorted(self.faults.items())),
                "faults_total": sum(self.faults.values()),
                "auth_failures": self.auth_failures,
                "inactive_refusals": self.inactive_refusals,
                "peak_requests_per_second": self.peak_requests_per_second,
            }
