"""The snapshot step's cache warm-up, as the step sees it: started on the first page, fed every
page, finished after the last, and never the reason the snapshot fails.

`hygiene.warmup.CacheWarmup` does the work (and says why it is safe and free for the customer);
this wrapper catches whatever it raises (a failed warm-up is logged as a warning and the segment
runs verify as they did before), logs its messages from the step's own thread (Dagster's log is
not written from the worker) and returns the figures for the snapshot's metadata.

`AC_HYGIENE_SNAPSHOT_WARMUP=off` turns it off (say, to compare a month with and without it).
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import Any

import dagster as dg

from ac_hygiene.activecampaign.contacts import PageProgress
from ac_hygiene.defs.resources import LedgerResource, VerifierResource
from ac_hygiene.defs.steps import cache_freshness
from ac_hygiene.hygiene.policy import CleanPolicy
from ac_hygiene.hygiene.warmup import CacheWarmup, WarmupSummary

WARMUP_ENV = "AC_HYGIENE_SNAPSHOT_WARMUP"
#: After the last page, how long the snapshot waits for the queued chunks at most: what is not
#: verified by then is left to the segment runs (which would have verified it anyway).
DRAIN_TIMEOUT_S = 60.0


def warmup_enabled() -> bool:
    return os.environ.get(WARMUP_ENV, "").strip().lower() not in ("off", "0", "false", "no")


class SnapshotWarmup:
    """Feeds the pages of a snapshot read to a `CacheWarmup` (see the module docstring)."""

    def __init__(
        self,
        log: dg.DagsterLogManager,
        *,
        connection: str,
        month: str,
        verifier: VerifierResource,
        ledger: LedgerResource,
        policy: CleanPolicy | None,
    ) -> None:
        self._log = log
        self._warmup: CacheWarmup | None = None
        self._begun = False
        self.summary = WarmupSummary()
        if not warmup_enabled():
            self.summary.state, self.summary.reason = "skipped", f"{WARMUP_ENV} is off"
            return
        try:
            self._warmup = CacheWarmup(
                connection=connection,
                month=month,
                ledger_url=ledger.database_url(),
                settings=verifier.settings(),
                freshness=max(
                    cache_freshness(month, ledger.cache_freshness_days), timedelta(seconds=1)
                ),
                policy=policy,
            )
            self.summary = self._warmup.summary
        except Exception as exc:  # never the snapshot's failure
            self._failed(exc)

    def page(self, page: PageProgress) -> None:
        """One stored page: start the warm-up on the first (the account's size is known then)."""
        if self._warmup is None:
            return
        try:
            if not self._begun:
                self._begun = True
                if not self._warmup.begin(page.total):
                    self._flush()
                    self._warmup = None
                    return
            self._warmup.offer(page.emails)
        except Exception as exc:
            self._failed(exc)
        self._flush()

    def finish(self) -> dict[str, Any]:
        """After the last page: wait for the queued chunks (bounded), judge, return metadata."""
        if self._warmup is not None:
            try:
                self.summary = self._warmup.finish(DRAIN_TIMEOUT_S)
            except Exception as exc:
                self._failed(exc)
            self._flush()
        s = self.summary
        if s.state in ("warmed", "stopped"):
            self._log.info(
                f"cache warm-up {s.state}: {s.verified_now:,} addresses verified and "
                f"{s.from_cache:,} already fresh in the cache during the read "
                f"({s.left_to_segments:,} left to the segment runs, {s.uncached:,} uncached), "
                f"{s.drain_seconds:.1f} s after the last page; nothing charged here"
            )
        return s.metadata()

    def abort(self) -> None:
        """The read failed: stop the worker (what it cached from sound chunks stays)."""
        if self._warmup is not None:
            try:
                self._warmup.abort()
            except Exception as exc:
                self._failed(exc)
            self._flush()

    def _flush(self) -> None:
        if self._warmup is not None:
            for message in self._warmup.drain_messages():
                self._log.info(message)

    def _failed(self, exc: Exception) -> None:
        self._flush()
        self.summary.state = "failed"
        self.summary.reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        self._log.warning(
            f"cache warm-up failed ({self.summary.reason}); the snapshot goes on and the "
            "segment runs verify as usual"
        )
        if self._warmup is not None:
            with contextlib.suppress(Exception):  # already failing; nothing more to say
                self._warmup.abort()
        self._warmup = None
