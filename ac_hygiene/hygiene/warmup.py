"""Cache warm-up: verify the month's addresses while the account snapshot is still being read.

The snapshot read is bound by the account's 5 requests/second (100 contacts a page), and it used
to leave the verifier idle for its whole length; the segment runs then verified everything after
it. `CacheWarmup` verifies each page's addresses, in chunks, on a worker thread while the read
goes on, into the shared result cache (`SqlResultCache`): the segment runs' `verifications` step
then finds most verdicts there. It never charges: charging stays in the segment runs, which
charge a cache hit like a fresh verdict (one credit per distinct address a month, unknown
refunded), so a month costs the customer the same with or without it.

The rules are those of the verify step (`defs.steps.verify_and_charge`):

- the engine checks the resolver's canaries per chunk (a failing resolver makes the chunk
  `dns_unreliable`, which is never cached);
- each chunk is judged by the plan guard's batch rules (`uncache_suspect_batch`): a suspect chunk
  is removed from the cache and the warm-up stops (a broken resolver or a blocked port 25 would
  make every later chunk suspect too); when the read ends, the whole warmed batch is judged again
  and removed if suspect, as one segment's batch would be;
- lookups use the month's freshness window (the caller passes `steps.cache_freshness`);
- greylisting is waited for as the engine does (`greylist_budget_s`), beside the read; what is
  still greylisted comes back unknown, is never cached, and the segment run probes it again.

Pages a resumed read takes from its checkpoint are not warmed (the segment runs verify them).
After the last page the read waits for the queued chunks at most the caller's `timeout_s`, plus
the chunk in progress (bounded by the engine's SMTP timeouts); what is left goes to the segments.

The warm-up is our cost, not the customer's: it runs only when the connection is unmetered or
its balance and monthly budget cover what the snapshot's addresses will cost (an upper bound from
the account's size before the first chunk, the ledger's estimate of each chunk after).

Memory: at most `max_pending` addresses wait for the worker (beyond that a page is left to the
segment runs, counted as `left_to_segments`); the addresses already handed over and the warmed
results (only the columns the guard reads) grow with the account, about as much again as the
snapshot's email column, which the step holds anyway. The read is never slowed: `offer` does not
block.

A failure here never fails the read: the caller catches it, says so, and the segment runs verify
as they did before. Nothing here knows Dagster; messages go through `drain_messages` so that the
caller logs them from its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from ac_hygiene.hygiene.assessment import assess_batch
from ac_hygiene.hygiene.cache import SqlResultCache, uncache_suspect_batch
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene.hygiene.policy import CleanPolicy
from ac_hygiene.verification import VerificationSettings, verify_emails

log = logging.getLogger(__name__)

#: Addresses per verification batch: big enough for the engine to share DNS lookups and SMTP
#: sessions per domain, small enough that a chunk lands in the cache every few seconds.
CHUNK = 2_000
#: Addresses that may wait for the worker before pages are left to the segment runs.
MAX_PENDING = 20_000
#: The columns of the warmed results kept for the final guard (and for uncaching).
_KEPT = (
    "email",
    "email_normalized",
    "status",
    "reason",
    "is_disposable",
    "is_catch_all",
    "is_role",
)

Verify = Callable[..., pl.DataFrame]


@dataclass
class WarmupSummary:
    """What the warm-up did, for the snapshot's metadata."""

    state: str = "not started"  # warmed | skipped | stopped | failed | not started
    reason: str = ""
    offered: int = 0  # addresses handed over by the read (blanks included)
    verified_now: int = 0  # distinct addresses verified (not found in the cache)
    from_cache: int = 0  # distinct addresses already fresh in the cache
    unknown: int = 0  # of those verified, no verdict (greylisted, timed out): not cached
    left_to_segments: int = 0  # offered but not warmed (skipped, stopped, behind, failed)
    uncached: int = 0  # rows removed again by the suspect-batch guard
    chunks: int = 0
    seconds: float = 0.0
    drain_seconds: float = 0.0  # time the read waited for the warm-up after its last page

    def metadata(self) -> dict[str, Any]:
        return {f"warmup_{k}": v for k, v in asdict(self).items()}


def allowance(ledger_url: str, connection: str, month: str) -> int | None:
    """Credits the connection may still spend this month: None when unlimited (unmetered, no
    budget), else the smaller of its available balance and what is left of the budget."""
    with CreditLedger(ledger_url) as credits:
        state = credits.account(connection, month)
    if not state.limited:
        return None
    limits = [state.available] if state.metered else []
    if state.budget_left is not None:
        limits.append(state.budget_left)
    return min(limits)


class CacheWarmup:
    """Verifies offered addresses into the result cache on a worker thread (see module doc)."""

    def __init__(
        self,
        *,
        connection: str,
        month: str,
        ledger_url: str,
        settings: VerificationSettings,
        freshness: timedelta,
        policy: CleanPolicy | None = None,
        chunk: int = CHUNK,
        max_pending: int = MAX_PENDING,
        verify: Verify | None = None,
    ) -> None:
        self.connection = connection
        self.month = month
        self._url = ledger_url
        # The engine's own greylist budget applies: its wait runs beside the read, where the
        # segment runs would otherwise wait for it one by one (measured: not waiting here put
        # 24 s back on the month's wall). A chunk that waits holds the pages behind it, which
        # beyond `max_pending` are left to the segment runs.
        self._settings = settings
        # At the very first second of a month the window is empty: nothing is reused.
        self._freshness = max(freshness, timedelta(seconds=1))
        self._policy = policy
        self._chunk = max(1, chunk)
        self._max_pending = max(self._chunk, max_pending)
        self._verify = verify
        self.summary = WarmupSummary()
        self._pending: deque[str] = deque()
        self._seen: set[str] = set()  # exact strings handed to the worker (cheap dedupe)
        self._cond = threading.Condition()
        self._closed = False  # no more offers
        self._stop = False  # stop after the current chunk
        self._thread: threading.Thread | None = None
        self._messages: deque[str] = deque()
        self._warmed: list[pl.DataFrame] = []
        self._allowed: int | None = None  # credits the warm-up may assume (None: unlimited)
        self._committed = 0  # credits the warmed chunks will cost when the segments charge
        self._started = 0.0

    # -- the reading thread ------------------------------------------------------------------
    def begin(self, expected: int | None) -> bool:
        """Check the funds and start the worker; False (and the reason in the summary) when the
        warm-up is skipped. `expected`: the account's contact count if known (an upper bound on
        its distinct addresses), checked before anything is verified."""
        self._started = time.monotonic()
        self._allowed = allowance(self._url, self.connection, self.month)
        if self._allowed is not None and expected is not None:
            with CreditLedger(self._url) as credits:
                used = credits.account(self.connection, self.month).used_this_month
            needed = max(0, expected - used)
            if needed > self._allowed:
                self._skip(
                    f"the balance / monthly budget leaves {self._allowed:,} credits, the "
                    f"snapshot's {expected:,} contacts may need {needed:,}: no warm-up, the "
                    "segment runs verify (and hold their credits) as usual"
                )
                return False
        self.summary.state = "warming"
        self._thread = threading.Thread(
            target=self._work, name=f"cache-warmup-{self.connection}", daemon=True
        )
        self._thread.start()
        return True

    def offer(self, emails: Sequence[str | None]) -> None:
        """Queue a page's addresses (never blocks; beyond `max_pending` the page is left to the
        segment runs)."""
        self.summary.offered += len(emails)
        with self._cond:
            if self._thread is None or self._closed or self._stop:
                self.summary.left_to_segments += len(emails)
                return
            fresh = [e for e in emails if isinstance(e, str) and e.strip() and e not in self._seen]
            if len(self._pending) + len(fresh) > self._max_pending:
                self.summary.left_to_segments += len(fresh)
                if "behind" not in self.summary.reason:
                    self.summary.reason = "the warm-up fell behind the read; pages left over"
                return
            self._seen.update(fresh)
            self._pending.extend(fresh)
            if len(self._pending) >= self._chunk:
                self._cond.notify()

    def finish(self, timeout_s: float) -> WarmupSummary:
        """No more pages: verify what is queued (waiting at most `timeout_s`), judge the whole
        warmed batch, uncache it if suspect. Safe to call if the warm-up never started."""
        waited = time.monotonic()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout_s))
            if self._thread.is_alive():
                with self._cond:
                    self._stop = True
                    dropped = len(self._pending)
                    self._pending.clear()
                self.summary.left_to_segments += dropped
                self._say(
                    f"warm-up still busy {timeout_s:.0f} s after the read: {dropped:,} queued "
                    "addresses left to the segment runs"
                )
                self._thread.join()  # the chunk in progress (seconds)
        self.summary.drain_seconds = round(time.monotonic() - waited, 2)
        if self._warmed and self.summary.state in ("warming", "stopped"):
            batch = pl.concat(self._warmed, how="vertical")
            self._warmed = []
            sound = uncache_suspect_batch(self._url, batch, self._policy, log=self._say)
            self.summary.uncached += int(sound.figures.get("uncached", 0))
            if not sound.ok:
                self.summary.state = "stopped"
                self.summary.reason = "the warmed batch looks like a verifier failure; uncached"
        if self.summary.state == "warming":
            self.summary.state = "warmed"
        self.summary.seconds = round(time.monotonic() - self._started, 2) if self._started else 0
        return self.summary

    def abort(self) -> None:
        """The read failed: stop after the current chunk, keep what was cached (sound chunks)."""
        with self._cond:
            self._closed = self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()

    def drain_messages(self) -> list[str]:
        """Messages the worker left for the caller's log (call from the caller's thread)."""
        out = []
        while self._messages:
            out.append(self._messages.popleft())
        return out

    # -- the worker --------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        self._messages.append(f"{self.connection} {self.month} cache warm-up: {message}")

    def _skip(self, reason: str) -> None:
        self.summary.state = "skipped"
        self.summary.reason = reason
        self._say(reason)

    def _next_chunk(self) -> list[str]:
        with self._cond:
            while not self._stop and not self._closed and len(self._pending) < self._chunk:
                self._cond.wait()
            if self._stop:
                return []
            size = min(self._chunk, len(self._pending))
            return [self._pending.popleft() for _ in range(size)]

    def _work(self) -> None:
        try:
            cache = SqlResultCache(self._url, freshness=self._freshness)
            try:
                while chunk := self._next_chunk():
                    if not self._warm(chunk, cache):
                        break
            finally:
                cache.close()
        except Exception as exc:  # a failed warm-up must never fail the read
            log.warning("cache warm-up of %s failed", self.connection, exc_info=True)
            self.summary.state = "failed"
            self.summary.reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            self._say(f"failed ({self.summary.reason}); the segment runs verify as usual")
        finally:
            with self._cond:
                self._stop = True
                self.summary.left_to_segments += len(self._pending)
                self._pending.clear()

    def _warm(self, chunk: list[str], cache: SqlResultCache) -> bool:
        """Verify one chunk into the cache; False when the warm-up must stop."""
        if self._allowed is not None:
            with CreditLedger(self._url) as credits:
                needed = credits.estimate(self.connection, self.month, chunk).needed
            if self._committed + needed > self._allowed:
                with self._cond:
                    self.summary.left_to_segments += len(chunk)
                self.summary.state = "stopped"
                self.summary.reason = (
                    f"the balance / monthly budget ({self._allowed:,} credits) covers no more "
                    "than what was warmed; the rest is left to the segment runs"
                )
                self._say(self.summary.reason)
                return False
            self._committed += needed
        verify = self._verify or verify_emails  # looked up late: tests replace it
        results = verify(chunk, self._settings, cache=cache)
        self.summary.chunks += 1
        keys = results.filter(pl.col("email_normalized").is_not_null())
        hits = keys.filter(pl.col("from_cache")).get_column("email_normalized").n_unique()
        self.summary.from_cache += hits
        self.summary.verified_now += keys.get_column("email_normalized").n_unique() - hits
        unknown = keys.filter(pl.col("status") == "unknown")
        self.summary.unknown += unknown.get_column("email_normalized").n_unique()
        kept = results.select([c for c in _KEPT if c in results.columns])
        verdict = assess_batch(results, self._policy)
        if not verdict.ok:
            # The same removal the verify step makes, and no more probing on a broken network.
            gone = uncache_suspect_batch(self._url, results, self._policy, log=self._say)
            self.summary.uncached += int(gone.figures.get("uncached", 0))
            self.summary.state = "stopped"
            self.summary.reason = "a warmed chunk looks like a verifier failure; uncached"
            with self._cond:
                self.summary.left_to_segments += len(self._pending)
                self._pending.clear()
            return False
        self._warmed.append(kept)
        return True
