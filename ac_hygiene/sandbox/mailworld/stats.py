"""Counters the servers keep, for benchmarks and for tests that must see traffic happen."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class MailWorldStats:
    """DNS queries and SMTP connections/RCPTs seen by one running world.

    The servers update it from their event loop while a benchmark reads it from another thread,
    hence the lock; reads return copies so a caller never iterates a counter that is changing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dns: Counter[tuple[str, str]] = Counter()
        self._connections: Counter[str] = Counter()
        self._rcpts: Counter[str] = Counter()

    def count_dns_query(self, name: str, qtype: str) -> None:
        with self._lock:
            self._dns[(name, qtype)] += 1

    def count_smtp_connection(self, host: str) -> None:
        with self._lock:
            self._connections[host] += 1

    def count_rcpt(self, host: str) -> None:
        with self._lock:
            self._rcpts[host] += 1

    @property
    def dns_queries(self) -> int:
        """Every DNS query received (UDP and TCP, answered or not)."""
        with self._lock:
            return sum(self._dns.values())

    @property
    def dns_by_query(self) -> Counter[tuple[str, str]]:
        """Queries per (normalized name, type), e.g. ("acme.com", "MX")."""
        with self._lock:
            return Counter(self._dns)

    @property
    def smtp_connections(self) -> Counter[str]:
        """Connections accepted per SMTP host."""
        with self._lock:
            return Counter(self._connections)

    @property
    def smtp_rcpts(self) -> Counter[str]:
        """RCPT commands answered per SMTP host."""
        with self._lock:
            return Counter(self._rcpts)

    def reset(self) -> None:
        """Forget everything counted so far (between benchmark phases)."""
        with self._lock:
            self._dns.clear()
            self._connections.clear()
            self._rcpts.clear()

    def as_dict(self) -> dict[str, Any]:
        """Totals and per-host figures, JSON-ready."""
        with self._lock:
            return {
                "dns_queries": sum(self._dns.values()),
                "dns_distinct_queries": len(self._dns),
                "smtp_connections": sum(self._connections.values()),
                "smtp_rcpts": sum(self._rcpts.values()),
                "smtp_connections_by_host": dict(sorted(self._connections.items())),
                "smtp_rcpts_by_host": dict(sorted(self._rcpts.items())),
            }
