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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from ac_hygiene.activecampaign.contacts import PageProgress, extract_contacts_sync
from ac_hygiene.activecampaign.credentials import Connection
from ac_hygiene.activecampaign.segments import Segment
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


def read_under_lock(
    connection: str,
    account: Connection,
    segment: Segment | str,
    *,
    checkpoint: Path,
    rate: float,
    progress: Callable[[PageProgress], None],
    tags: pl.DataFrame | None,
    on_lock: Callable[[float], None] | None = None,
) -> tuple[pl.DataFrame, float, float]:
    """Read `segment`'s contacts holding the account's lock: (frame, seconds reading, seconds
    waited for the lock). `on_lock` hears the wait as soon as the lock is held; `tags` (the
    latest tags table, if any) spares a re-read of the tags it already knows."""
    with account_lock(connection) as lock_wait:
        if on_lock is not None:
            on_lock(lock_wait)
        started = time.monotonic()
        frame = extract_contacts_sync(
            account,
            segment,
            checkpoint_dir=checkpoint,
            rate=rate,
            progress=progress,
            known_tag_ids=None if tags is None else tags.get_column("tag_id"),
        )
        return frame, time.monotonic() - started, lock_wait
