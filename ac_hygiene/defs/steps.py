"""The bodies of the verify and plan steps, shared by the monthly segments and the new-contacts
windows, so that both run one pipeline: the same engine, cache, ledger, policy, plan and guard.

Plain functions of Dagster-free inputs plus a log callable; the assets wrap them and attach the
metadata built here, so the UI shows a window's verifications and plan exactly as a segment's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.metadata import (
    ACTION_MEANINGS,
    CATEGORY_MEANINGS,
    INTERESTING_CATEGORIES,
    INTERESTING_STATUSES,
    STATUS_VS_CATEGORY,
    counts_table,
    guard_limits,
    guard_table,
    preview,
    unsubscribe_scope,
    value_counts,
)
from ac_hygiene.defs.partitions import month_start
from ac_hygiene.defs.progress import CountLogger
from ac_hygiene.hygiene.address_book import AddressBook
from ac_hygiene.hygiene.assessment import AssessmentThresholds, PlanAssessment, assess_plan
from ac_hygiene.hygiene.balance import InsufficientCredits
from ac_hygiene.hygiene.billing import KeepAlive, SegmentBill, bill_segment
from ac_hygiene.hygiene.cache import SqlResultCache, uncache_suspect_batch
from ac_hygiene.hygiene.ledger import ChargeSummary, CreditLedger, Estimate
from ac_hygiene.hygiene.plan import build_clean_plan, plan_summary
from ac_hygiene.hygiene.policy import CleanPolicy
from ac_hygiene.hygiene.reservations import Reservation
from ac_hygiene.schemas import PLAN_ACTIONS, PLAN_CATEGORIES, VERIFICATION_STATUSES
from ac_hygiene.verification import VerificationSettings, verify_emails

Log = Callable[[str], None]
#: Whether the Dagster run with this id has ended (so a hold it left can be released).
RunEnded = Callable[[str], bool]


def cache_freshness(month: str, days: int, now: datetime | None = None) -> timedelta:
    """How old a cached result may be for a run of `month`: `days`, but never from before the
    month began.

    Monthly hygiene means each month's addresses are checked again (and that is what the month's
    credit pays for); within the month, a result is reused by other segments, re-runs and
    backfills. Without the bound, a 30-day window would reuse most of last month's results in a
    run early in the month (months are 28 to 31 days apart).
    """
    elapsed = (now or datetime.now(UTC)) - month_start(month)
    return max(timedelta(0), min(timedelta(days=days), elapsed))


def segment_emails(contacts: pl.DataFrame) -> list[str]:
    """The addresses to verify: each distinct non-blank email once, in contact order.

    Two contacts sharing an address need one verification (and one credit); a contact without an
    address has nothing to verify (the plan keeps it with reason `no_email`).
    """
    return distinct_addresses(contacts.get_column("email"))


def distinct_addresses(emails: pl.Series) -> list[str]:
    """Each distinct non-blank address of `emails` once, in order (see `segment_emails`)."""
    usable = emails.filter(emails.str.strip_chars().str.len_chars().fill_null(0) > 0)
    return usable.unique(maintain_order=True).to_list()


def run_has_ended(instance: dg.DagsterInstance) -> RunEnded:
    """Whether a run of `instance` has ended (a run it does not know is left to expire)."""

    def ended(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and run.is_finished

    return ended


def release_ended_runs(
    credits: CreditLedger, connection: str, run_id: str, run_has_ended: RunEnded, log: Log
) -> None:
    """Return the holds of runs that ended without releasing them (a killed run marked failed);
    holds of runs the instance does not know expire on their own."""
    ended = [
        other
        for other in credits.open_run_ids(connection)
        if other != run_id and run_has_ended(other)
    ]
    if ended:
        released = credits.release_runs(connection, ended)
        log(f"{connection}: released the credits held by {released} ended run(s)")


@dataclass(frozen=True)
class Verified:
    """What the verify step produced: results (schema `Verifications`) and the segment's bill."""

    results: pl.DataFrame
    bill: SegmentBill
    seconds: float

    @property
    def charge(self) -> ChargeSummary:
        return self.bill.charge

    @property
    def from_cache(self) -> int:
        return self.bill.from_cache


def verify_and_charge(
    addresses: list[str | None],
    *,
    connection: str,
    month: str,
    run_id: str,
    settings: VerificationSettings,
    ledger_url: str,
    cache_freshness_days: int,
    reservation_ttl_minutes: int,
    log: Log,
    label: str,
    policy: CleanPolicy | None = None,
    warn: Log | None = None,
    run_has_ended: RunEnded | None = None,
) -> Verified:
    """Hold the cost of `addresses` on the connection's balance, verify each distinct one (fresh
    cached results of the month reused), charge the month's ledger and release the rest of the
    hold: one credit per address per connection per month, unknown refunded.

    A batch the plan guard calls suspect (judged with `policy`) is removed from the result
    cache, so the run after the fault is fixed verifies again.

    Raises `dg.Failure` (no retry) before any DNS or SMTP traffic when the balance or the
    month's budget cannot cover the cost.
    """
    emails = distinct_addresses(pl.Series("email", addresses, dtype=pl.String))
    prefix = f"{connection} {label}"
    started = time.monotonic()
    with CreditLedger(ledger_url) as credits:
        if run_has_ended is not None:
            release_ended_runs(credits, connection, run_id, run_has_ended, log)

        def reserved(estimate: Estimate, reservation: Reservation) -> None:
            before = reservation.state_before
            funds = (
                f"balance {before.balance:,} before this hold"
                if before.metered
                else "unmetered (no balance configured)"
            )
            log(
                f"{prefix}: {estimate.distinct:,} distinct addresses, "
                f"{estimate.already_charged:,} already charged this month: "
                f"{estimate.needed:,} credits held; {funds}"
            )

        def verify(keep_alive: KeepAlive) -> pl.DataFrame:
            logger = CountLogger(log, prefix)

            def progress(done: int, total: int) -> None:
                logger(done, total)
                keep_alive()

            cache = SqlResultCache(
                ledger_url, freshness=cache_freshness(month, cache_freshness_days)
            )
            try:
                results = verify_emails(emails, settings, progress=progress, cache=cache)
            finally:
                cache.close()
            # A batch shaped like a broken resolver or prober must not be reused this month.
            uncache_suspect_batch(ledger_url, results, policy, log=warn or log)
            return results

        try:
            results, bill = bill_segment(
                credits,
                connection=connection,
                month=month,
                segment=label,
                run_id=run_id,
                addresses=addresses,
                verify=verify,
                ttl=timedelta(minutes=reservation_ttl_minutes),
                on_reserved=reserved,
            )
        except InsufficientCredits as exc:
            # Before any DNS or SMTP traffic: nothing was verified, nothing is charged.
            raise dg.Failure(description=str(exc), allow_retries=False) from None
    elapsed = time.monotonic() - started
    verified = Verified(results=results, bill=bill, seconds=elapsed)
    log(
        f"{prefix}: {results.height:,} addresses verified in {elapsed:.1f} s "
        f"({bill.from_cache:,} from cache); {bill.charge.charged:,} credits charged, "
        f"{bill.charge.already_charged:,} already charged this month, "
        f"{bill.unknown:,} unknown not charged; balance after: "
        f"{bill.metadata()['balance_after']}"
    )
    return verified


def remember_addresses(ledger_url: str, connection: str, contacts: pl.DataFrame) -> int:
    """Record in the address book the address each contact had when it was verified, so that a
    later change of anything but the address is not verified again (`hygiene.address_book`).

    Every contact is recorded, whatever its verdict: an unknown result is retried by the next
    monthly run, not by a change of name.
    """
    with AddressBook(ledger_url) as book:
        return book.remember(connection, contacts)


def verification_metadata(verified: Verified) -> dict[str, Any]:
    """The metadata of a verifications materialization: the credits sum that adds up on screen,
    counts per status and reason, and the rows a reviewer wants first."""
    results, bill = verified.results, verified.bill
    statuses = value_counts(results, "status", VERIFICATION_STATUSES)
    reasons = dict(sorted(value_counts(results, "reason", ()).items(), key=lambda kv: -kv[1]))
    return {
        "addresses": results.height,
        "credits": dg.MetadataValue.md(bill.markdown()),
        **bill.metadata(),
        "by_status": counts_table(statuses, ("status", "addresses")),
        **{f"status_{name}": count for name, count in statuses.items()},
        "by_reason": counts_table(reasons, ("reason", "addresses")),
        "verify_seconds": round(verified.seconds, 2),
        "addresses_per_second": round(results.height / max(verified.seconds, 1e-9), 1),
        "preview": preview(results, first=("status", INTERESTING_STATUSES)),
    }


@dataclass(frozen=True)
class Planned:
    plan: pl.DataFrame
    summary: dict[str, Any]
    assessment: PlanAssessment


def plan_contacts(
    contacts: pl.DataFrame,
    verifications: pl.DataFrame,
    settings: ConnectionSettings,
    *,
    list_ids: list[int] | None,
    log: Log,
    warn: Log,
    label: str,
) -> Planned:
    """The clean plan per the connection's policy, judged by the apply step's guard now, so that
    whoever reviews the plan sees a suspect one flagged first."""
    connection = settings.name
    plan = build_clean_plan(contacts, verifications, settings.policy, segment_list_ids=list_ids)
    summary = plan_summary(plan)
    assessment = assess_plan(plan, verifications)
    if not assessment.ok:
        warn(
            f"{connection} {label}: this plan looks like a verifier failure, not a dirty "
            "list: " + "; ".join(f.message for f in assessment.findings)
        )
    log(
        f"{connection} {label}: plan for {plan.height:,} contacts: "
        + ", ".join(f"{count:,} {action}" for action, count in summary["by_action"].items())
    )
    return Planned(plan=plan, summary=summary, assessment=assessment)


def plan_metadata(planned: Planned, settings: ConnectionSettings, label: str) -> dict[str, Any]:
    """The metadata of a clean plan materialization: actions and categories with what they
    mean, what an unsubscribe touches, the guard's figures and the rows to review first."""
    summary, plan, assessment = planned.summary, planned.plan, planned.assessment
    changes = plan.filter(pl.col("action") != "keep")
    return {
        "contacts": plan.height,
        "by_category": counts_table(
            summary["by_category"],
            ("category", "contacts"),
            CATEGORY_MEANINGS,
            note=STATUS_VS_CATEGORY,
        ),
        "by_action": counts_table(summary["by_action"], ("action", "contacts"), ACTION_MEANINGS),
        **{f"action_{name}": summary["by_action"].get(name, 0) for name in PLAN_ACTIONS},
        **{f"category_{name}": summary["by_category"].get(name, 0) for name in PLAN_CATEGORIES},
        "list_unsubscriptions": summary["list_unsubscriptions"],
        "unsubscribe_scope": unsubscribe_scope(
            summary["by_action"].get("unsubscribe", 0), summary["list_unsubscriptions"], label
        ),
        "policy": dg.MetadataValue.json(settings.policy.as_dict()),
        "auto_apply": settings.auto_apply,
        "plan_looks_sane": assessment.ok,
        "plan_guard": guard_table(
            assessment.figures,
            assessment.as_metadata()["findings"],
            guard_limits(AssessmentThresholds()),
        ),
        "changes_preview": preview(changes, first=("category", INTERESTING_CATEGORIES)),
        "preview": preview(plan, first=("category", INTERESTING_CATEGORIES)),
    }
