"""Fault injection: the failures a client meets on a real network, on demand and reproducibly.

Each request that passed authentication and the rate limit rolls the dice once (a seeded
`random.Random`, so the same request sequence meets the same faults):
- `p_429`, `p_500`, `p_503`, `p_drop`, `p_truncated` are exclusive outcomes (their sum is at
  most 1); `p_slow` is rolled separately and delays the answer by `slow_s` seconds, faulted or not.
- A faulted request never changes state: the fault is answered *instead of* the handler, so a
  faulted write (429/500/503/drop) is not applied. Truncation needs the handler's body, so it is
  only injected on reads (GET); a truncated roll on a write is answered normally.
- `drop`: the server starts a response and closes the connection; clients see a transport error
  (`httpx.RemoteProtocolError`) both over a socket and in-process.
- `truncated`: a 200 whose JSON body is cut in half, with a Content-Length that matches the cut
  body, so that only the JSON parser notices.
- 503 answers an HTML page, as a load balancer does; 500 answers ActiveCampaign's JSON.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import httpx

_EXCLUSIVE = ("p_429", "p_500", "p_503", "p_drop", "p_truncated")


class DroppedConnection(httpx.RemoteProtocolError):
    """Raised by the app to drop the connection mid-response.

    Under uvicorn the exception makes the server close the socket after the response started, so
    the client sees a transport error. In-process (httpx.ASGITransport) the exception itself
    reaches the client; deriving it from httpx's own transport error makes a client handle both
    paths the same way.
    """


@dataclass(frozen=True)
class Faults:
    p_429: float = 0.0
    p_500: float = 0.0
    p_503: float = 0.0
    slow_s: float = 0.0
    p_slow: float = 0.0
    p_drop: float = 0.0
    p_truncated: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (*_EXCLUSIVE, "p_slow"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value}")
        total = sum(getattr(self, name) for name in _EXCLUSIVE)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"Faults: p_429 + p_500 + p_503 + p_drop + p_truncated must be at most 1, "
                f"got {total:g}"
            )
        if self.slow_s < 0:
            raise ValueError(f"Faults.slow_s must not be negative, got {self.slow_s}")

    @property
    def any(self) -> bool:
        return any(getattr(self, name) for name in _EXCLUSIVE) or (self.p_slow and self.slow_s)


@dataclass(frozen=True)
class Roll:
    kind: str | None  # "429" | "500" | "503" | "drop" | "truncated" | None
    slow: bool


class FaultDice:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()

    def roll(self, method: str) -> Roll:
        with self._lock:
            draw, slow_draw = self._rng.random(), self._rng.random()
        kind = None
        edge = 0.0
        for name in _EXCLUSIVE:
            edge += getattr(self.faults, name)
            if draw < edge:
                kind = name.removeprefix("p_")
                break
        if kind == "truncated" and method != "GET":
            kind = None
        slow = slow_draw < self.faults.p_slow and self.faults.slow_s > 0
        return Roll(kind=kind, slow=slow)
