"""Billing one segment's run: estimate, reserve, verify, charge, release, and numbers that add up.

The `verifications` asset and `benchmarks/credits.py` both call `bill_segment`, so the path the
benchmark measures is the path users run. The order is the product's promise:

1. estimate what the segment can cost (distinct addresses not yet charged this month) and
   reserve it, BEFORE any DNS or SMTP traffic: a balance or budget that cannot cover it stops
   the run here with `InsufficientCredits` (its message names the fix);
2. verify (the caller's function), renewing the hold while it makes progress;
3. charge the results against the reservation, then release what was not charged (unknown
   results, addresses another segment charged first), also when verification or charging fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from ac_hygiene.hygiene.ledger import ChargeSummary, CreditLedger, Estimate, billing_key_expr
from ac_hygiene.hygiene.reservations import DEFAULT_TTL, Reservation, Settlement

RENEW_EVERY_S = 60.0


class KeepAlive:
    """Renews a reservation at most every `every_s` seconds when called (a progress hook), so
    that a long verification keeps its hold while a killed one lets it expire."""

    def __init__(
        self, ledger: CreditLedger, reservation: Reservation, every_s: float = RENEW_EVERY_S
    ) -> None:
        self._ledger = ledger
        self._reservation = reservation
        self._every = every_s
        self._last = time.monotonic()

    def __call__(self, *_args: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._ledger.renew(self._reservation)


@dataclass(frozen=True)
class SegmentBill:
    """A segment run's credits, in numbers that add up on screen:

    addresses - duplicates = distinct
    distinct = already charged + unknown (not charged) + charged [+ free cache hits]
    distinct = from cache + verified now
    """

    estimate: Estimate
    charge: ChargeSummary
    settlement: Settlement
    from_cache: int
    verified_now: int

    @property
    def unknown(self) -> int:
        return self.charge.refunded_unknown + self.charge.unknown_already_refunded

    def adds_up(self) -> bool:
        e, c = self.estimate, self.charge
        return (
            e.addresses - e.duplicates == e.distinct
            and e.distinct == c.already_charged + self.unknown + c.charged + c.free_cache_hits
            and e.distinct == self.from_cache + self.verified_now
        )

    def metadata(self) -> dict[str, int | str]:
        """Plain values for run metadata (one key per line of `lines`)."""
        balance = self.settlement.balance_after
        return {
            "addresses_in_segment": self.estimate.addresses,
            "duplicates": self.estimate.duplicates,
            "distinct_addresses": self.estimate.distinct,
            "from_cache": self.from_cache,
            "verified_now": self.verified_now,
            "credits_held": self.settlement.held,
            "credits_already_charged": self.charge.already_charged,
            "unknown_not_charged": self.unknown,
            "credits_refunded_unknown": self.charge.refunded_unknown,
            "unknown_refunded_earlier": self.charge.unknown_already_refunded,
            "credits_charged": self.charge.charged,
            "credits_released": self.settlement.released,
            "balance_after": "unmetered" if balance is None else balance,
            "totals_add_up": self.adds_up(),
        }

    def lines(self) -> list[tuple[str, str]]:
        """The credits as a sum to read top to bottom."""
        e, c, s = self.estimate, self.charge, self.settlement
        rows = [
            ("addresses in the segment", f"{e.addresses:,}"),
            ("− duplicates (the same address twice)", f"{e.duplicates:,}"),
            ("= distinct addresses", f"{e.distinct:,}"),
            (
                "  of which from the cache / verified now",
                f"{self.from_cache:,} / {self.verified_now:,}",
            ),
            (
                "− already charged this month (other segments, earlier runs)",
                f"{c.already_charged:,}",
            ),
            ("− unknown, not charged", f"{self.unknown:,}"),
        ]
        if c.unknown_already_refunded:
            rows.append(
                ("  of which refunded by an earlier run", f"{c.unknown_already_refunded:,}")
            )
        if c.free_cache_hits:
            rows.append(("− cache hits (free)", f"{c.free_cache_hits:,}"))
        rows += [
            ("= **charged**", f"**{c.charged:,}**"),
            ("held before verifying / released after", f"{s.held:,} / {s.released:,}"),
            (
                "balance after",
                "unmetered" if s.balance_after is None else f"{s.balance_after:,}",
            ),
        ]
        return rows

    def markdown(self) -> str:
        body = "\n".join(f"| {label} | {value} |" for label, value in self.lines())
        return "| credits | |\n|---|---:|\n" + body


def _cache_split(results: pl.DataFrame) -> tuple[int, int]:
    """(distinct keys answered from the cache only, distinct keys verified now)."""
    if results.height == 0:
        return 0, 0
    hit = pl.col("from_cache") if "from_cache" in results.columns else pl.lit(False)
    keys = (
        results.select(billing_key_expr().alias("key"), hit.fill_null(False).alias("hit"))
        .filter(pl.col("key").fill_null("") != "")
        .group_by("key")
        .agg(pl.col("hit").all())
    )
    cached = int(keys.get_column("hit").sum())
    return cached, keys.height - cached


def bill_segment(
    ledger: CreditLedger,
    *,
    connection: str,
    month: str,
    segment: str,
    run_id: str,
    addresses: Sequence[str | None],
    verify: Callable[[KeepAlive], pl.DataFrame],
    ttl: timedelta = DEFAULT_TTL,
    on_reserved: Callable[[Estimate, Reservation], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, SegmentBill]:
    """Estimate and reserve the segment's credits, run `verify(keep_alive)`, charge, release.

    `addresses`: every contact's address (duplicates and blanks included, so that the counts
    explain themselves). Raises InsufficientCredits before `verify` is called when the balance or
    the month's budget cannot cover the estimate.
    """
    estimate = ledger.estimate(connection, month, addresses)
    reservation = ledger.reserve(
        connection, month, estimate.needed, run_id=run_id, segment=segment, ttl=ttl
    )
    try:
        if on_reserved is not None:
            on_reserved(estimate, reservation)
        results = verify(KeepAlive(ledger, reservation))
        summary = ledger.charge(
            connection, month, results, run_id=run_id, reservation=reservation, progress=progress
        )
    finally:
        settlement = ledger.release(reservation)
    cached, now = _cache_split(results)
    return results, SegmentBill(
        estimate=estimate,
        charge=summary,
        settlement=settlement,
        from_cache=cached,
        verified_now=now,
    )
