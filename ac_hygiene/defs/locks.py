"""One ActiveCampaign-calling step per account at a time on this machine, handed over at once.

The Dagster pool `activecampaign-<connection>` (limit 1 in dagster.yaml) is what keeps an account
under its 5 requests/second across runs and machines. A step waiting for a pool slot, however,
re-checks the instance only every second or more (and in Dagster 1.13 spins a core while it waits),
and an instance whose dagster.yaml sets no pool limit does not serialize at all. This advisory file
lock is the local complement: a step blocked on it wakes the moment the previous extraction ends,
which is what lets segment k+1's extraction follow segment k's without a gap while segment k is
being verified. The kernel releases it when a process dies, so a crash never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ac_hygiene.defs.settings import locks_dir


def pool_name(connection: str) -> str:
    """The Dagster pool of the steps that call the connection's ActiveCampaign account."""
    return f"activecampaign-{connection}"


@contextmanager
def account_lock(connection: str, directory: Path | None = None) -> Iterator[float]:
    """Hold the account's lock; yields the seconds spent waiting for it."""
    directory = directory or locks_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{pool_name(connection)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield time.monotonic() - started
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
