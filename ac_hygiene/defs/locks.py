"""One ActiveCampaign-calling step per account at a time on this machine, handed over at once.

What keeps an account under its 5 requests/second across runs is the run queue: runs that call
ActiveCampaign carry `ac_hygiene/activecampaign=<connection>`, limited to one per account in
dagster.yaml, so they wait *queued* (no process, no CPU) rather than in a step. Runs that never
see the queue (`dagster asset materialize`, the demo, an instance configured without the limit)
still take this advisory file lock around every read: a second reader blocks in the kernel and
wakes the moment the first ends. The kernel releases it when a process dies, so a crash never
leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ac_hygiene.defs.paths import locks_dir


def lock_name(connection: str) -> str:
    """The lock file's name (one per connection)."""
    return f"activecampaign-{connection}"


@contextmanager
def account_lock(connection: str, directory: Path | None = None) -> Iterator[float]:
    """Hold the account's lock; yields the seconds spent waiting for it."""
    directory = directory or locks_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{lock_name(connection)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
