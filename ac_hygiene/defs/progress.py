"""Progress lines for long steps: counts, rate and time left, at most one line every few seconds.

A 100,000-contact extraction takes minutes at 5 requests/second; whoever watches the run in the
UI (or the demo in a terminal) must see it moving. One line per page would be 1,000 lines, so
lines are throttled by time, and the first and last are always written.

The closing line says honestly where the contacts came from: pages read from ActiveCampaign by
this attempt, and pages resumed from the checkpoint of an interrupted one. When every page came
from the checkpoint no page is reported at all (the extraction only asks for the page after the
last stored contact, and it is empty), so "2,000 contacts in 0 pages" is what a naive count says;
`PageLogger.summary` says "all from the checkpoint" instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ac_hygiene.activecampaign.contacts import PageProgress

LOG_EVERY_S = 2.0
MIN_ETA_S = 2.0


def _eta(done: int, total: int | None, rate: float) -> str:
    if not total or rate <= 0 or done >= total:
        return ""
    seconds = (total - done) / rate
    return f" · ~{seconds:,.0f} s left"


class PageLogger:
    """`progress=` callback of the contact extraction."""

    def __init__(self, log: Callable[[str], None], label: str, every_s: float = LOG_EVERY_S):
        self._log = log
        self._label = label
        self._every = every_s
        self._started = time.monotonic()
        self._last = float("-inf")
        self._first: tuple[float, int] | None = None  # (time, contacts) at the first page
        self.pages = 0  # pages stored so far, including resumed ones (as last reported)
        self.contacts = 0
        self.resumed = 0  # pages that came from the checkpoint (known once a page is read)

    @property
    def read(self) -> int:
        """Pages read from ActiveCampaign by this attempt."""
        return self.pages - self.resumed

    def __call__(self, page: PageProgress) -> None:
        self.pages, self.contacts = page.pages, page.contacts
        self.resumed = page.resumed_pages
        now = time.monotonic()
        if self._first is None:
            self._first = (now, page.contacts)
        if page.pages > 1 and now - self._last < self._every:
            return
        self._last = now
        fetched = page.pages - page.resumed_pages
        pages_rate = fetched / max(now - self._started, 1e-9)
        since, base = self._first
        contacts_rate = (page.contacts - base) / max(now - since, 1e-9)
        total = f" / {page.total:,}" if page.total is not None else ""
        resumed = f" ({page.resumed_pages} from checkpoint)" if page.resumed_pages else ""
        self._log(
            f"{self._label}: page {page.pages}{resumed} · {page.contacts:,}{total} contacts · "
            f"{pages_rate:.1f} pages/s{_eta(page.contacts, page.total, contacts_rate)}"
        )

    def summary(self, contacts: int, elapsed_s: float) -> str:
        """The closing line: `contacts` extracted, and how many pages this attempt read."""
        done = f"{self._label}: {contacts:,} contacts"
        took = f"{elapsed_s:.1f} s"
        if self.read == 0 and contacts > 0:
            return (
                f"{done}, all from the checkpoint of an interrupted attempt (no page read from "
                f"ActiveCampaign this time), {took}"
            )
        pages = f"{self.pages:,} page{'s' if self.pages != 1 else ''}"
        if self.resumed:
            return (
                f"{done} in {pages} ({self.read:,} read now, {self.resumed:,} resumed from the "
                f"checkpoint of an interrupted attempt), {took}"
            )
        return f"{done} in {pages}, {took}"


class CountLogger:
    """Progress of the verification engine: called with (done, total) as addresses finish."""

    def __init__(self, log: Callable[[str], None], label: str, every_s: float = LOG_EVERY_S):
        self._log = log
        self._label = label
        self._every = every_s
        self._started = time.monotonic()
        self._last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self._every:
            return
        self._last = now
        elapsed = now - self._started
        rate = done / max(elapsed, 1e-9)
        # A rate measured over the first instant says nothing about the time left.
        eta = _eta(done, total, rate) if elapsed >= MIN_ETA_S else ""
        self._log(f"{self._label}: {done:,} / {total:,} addresses verified · {rate:,.0f}/s{eta}")
