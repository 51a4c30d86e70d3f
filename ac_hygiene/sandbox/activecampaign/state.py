"""`SandboxState`: everything one sandbox app holds, reachable as `app.state.sandbox`.

Benchmarks and tests read `stats`, flip `account.active`, inspect `imports`, and (when created
with `record_requests=True`) replay `recorded` requests through the OpenAPI conformance helper.
The API key is kept private and compared in constant time; the repr never shows it.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ac_hygiene.sandbox.activecampaign.account import SandboxAccount
from ac_hygiene.sandbox.activecampaign.bulk_import import ImportQueue
from ac_hygiene.sandbox.activecampaign.faults import FaultDice, Faults
from ac_hygiene.sandbox.activecampaign.rate_limit import TokenBucket
from ac_hygiene.sandbox.activecampaign.stats import SandboxStats

RECORD_LIMIT = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the client sent it (no headers: they carry the key)."""

    method: str
    path: str
    params: list[tuple[str, str]]
    json_body: Any  # None when there was no body; the raw text when it was not JSON


class SandboxState:
    def __init__(
        self,
        account: SandboxAccount,
        *,
        api_key: str,
        rate_limit: float | None,
        burst: int | None,
        faults: Faults | None,
        clock: Callable[[], float],
        import_delay_s: float,
        record_requests: bool,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        self.account = account
        self.clock = clock
        self.stats = SandboxStats()
        self.limiter = TokenBucket(rate_limit, clock, burst) if rate_limit else None
        self.faults = faults or Faults()
        self.dice = FaultDice(self.faults)
        self.imports = ImportQueue(account, clock, import_delay_s)
        self.recorded: deque[RecordedRequest] | None = (
            deque(maxlen=RECORD_LIMIT) if record_requests else None
        )
        self._api_key = api_key.encode()
        # Called as hook(method, path) after a request was applied, before its answer is sent
        # (tests kill a client there to lose the answer of a write).
        self.request_hook: Callable[[str, str], None] | None = None

    def __repr__(self) -> str:
        rate = self.limiter.rate if self.limiter else None
        return f"SandboxState({self.account!r}, rate_limit={rate}, faults={self.faults})"

    def key_matches(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._api_key)

    def now(self) -> int:
        """The clock as whole POSIX seconds, for the dates writes stamp."""
        return int(self.clock())
