"""Per (month, segment): the segment's contacts, their verification, and the clean plan.

The three assets of one partition run together in one run. In a planned month the contacts are
cut from the month's account snapshot without a request, so segment runs never call
ActiveCampaign and run side by side; only a backfill with no snapshot reads its segment from the
API (and its run then queues behind the account's other ActiveCampaign runs, see run_queue).
"""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from ac_hygiene.activecampaign.contacts import extract_contacts_sync
from ac_hygiene.activecampaign.segments import parse_segment, select_segment
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.locks import account_lock
from ac_hygiene.defs.metadata import counts_table, preview, value_counts
from ac_hygiene.defs.partitions import MONTH, month_segment_partitions, month_start, split_key
from ac_hygiene.defs.progress import CountLogger, PageLogger
from ac_hygiene.defs.resources import (
    ActiveCampaignResource,
    LedgerResource,
    VerifierResource,
    activecampaign_resource_key,
)
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.settings import checkpoint_dir
from ac_hygiene.defs.snapshot_assets import SNAPSHOT, refuse_past_month
from ac_hygiene.defs.tags import CONNECTION_TAG
from ac_hygiene.hygiene.assessment import assess_plan
from ac_hygiene.hygiene.cache import SqlResultCache
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene.hygiene.plan import build_clean_plan, plan_summary
from ac_hygiene.schemas import PLAN_ACTIONS, PLAN_CATEGORIES, VERIFICATION_STATUSES
from ac_hygiene.verification import verify_emails

SEGMENT_ASSETS = ("segment_contacts", "verifications", "clean_plan")


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
    emails = contacts.get_column("email")
    usable = emails.filter(emails.str.strip_chars().str.len_chars().fill_null(0) > 0)
    return usable.unique(maintain_order=True).to_list()


def segment_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    connection = settings.name
    partitions = month_segment_partitions(connection, settings.start_month)
    resource_key = activecampaign_resource_key(connection)
    common = {
        "group_name": connection,
        "partitions_def": partitions,
        "tags": {CONNECTION_TAG: connection},
    }

    @dg.asset(
        key=[connection, "segment_contacts"],
        description=(
            "Every contact of the segment, with its list memberships and tags: cut from the "
            "month's account snapshot, or (no snapshot yet) read alone through the API filter."
        ),
        deps=[dg.AssetKey([connection, "lists"])],
        ins={
            "snapshot": dg.AssetIn(
                key=[connection, SNAPSHOT],
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name=MONTH
                ),
                metadata={"optional": True},
            ),
            # The latest tags table, if any, spares a read of the tags when the segment is read
            # from the API (see activecampaign.contacts); never run yet: None.
            "tags": dg.AssetIn(key=[connection, "tags"], metadata={"optional": True}),
        },
        required_resource_keys={resource_key},
        kinds={"activecampaign", "polars"},
        **common,
    )
    def segment_contacts(
        context: dg.AssetExecutionContext,
        snapshot: pl.DataFrame | None,
        tags: pl.DataFrame | None,
    ) -> dg.Output[pl.DataFrame]:
        month, segment = split_key(context)
        tag_run(context)
        refuse_past_month(month)
        parsed = parse_segment(segment)
        if snapshot is not None:
            frame = select_segment(snapshot, parsed)
            context.log.info(
                f"{connection} {segment}: {frame.height:,} of the snapshot's "
                f"{snapshot.height:,} contacts, no request"
            )
            source, pages, elapsed, lock_wait = "snapshot", 0, 0.0, 0.0
        else:
            # A backfill with no snapshot this month: a list or tag costs its own pages, not
            # the account's (a remainder or `all` has no filter and reads the account).
            resource: ActiveCampaignResource = getattr(context.resources, resource_key)
            account = resource.connection()
            logger = PageLogger(context.log.info, f"{connection} {segment}")
            with account_lock(connection) as lock_wait:
                if lock_wait >= 1:
                    context.log.info(f"waited {lock_wait:.1f} s for the account's previous read")
                started = time.monotonic()
                frame = extract_contacts_sync(
                    account,
                    parsed,
                    checkpoint_dir=checkpoint_dir(connection, month, segment),
                    rate=resource.rate,
                    progress=logger,
                    known_tag_ids=None if tags is None else tags.get_column("tag_id"),
                )
                elapsed = time.monotonic() - started
            source, pages = "activecampaign", logger.pages
            context.log.info(
                f"{connection} {segment}: no snapshot for {month}; {frame.height:,} contacts read "
                f"in {pages} pages, {elapsed:.1f} s"
            )
        with_email = int(frame.select(pl.col("email").is_not_null().sum()).item())
        return dg.Output(
            frame,
            metadata={
                "contacts": frame.height,
                "contacts_with_email": with_email,
                "source": source,
                "pages": pages,
                "extract_seconds": round(elapsed, 2),
                "account_lock_wait_seconds": round(lock_wait, 2),
                "preview": preview(frame),
            },
        )

    @dg.asset(
        key=[connection, "verifications"],
        description=(
            "One verification per distinct address of the segment (syntax, DNS, lists, SMTP); "
            "charged to the credits ledger, reused from the result cache when fresh."
        ),
        ins={"contacts": dg.AssetIn(key=[connection, "segment_contacts"])},
        kinds={"polars"},
        **common,
    )
    def verifications(
        context: dg.AssetExecutionContext,
        contacts: pl.DataFrame,
        verifier: VerifierResource,
        ledger: LedgerResource,
    ) -> dg.Output[pl.DataFrame]:
        month, segment = split_key(context)
        emails = segment_emails(contacts)
        url = ledger.database_url()
        started = time.monotonic()
        cache = SqlResultCache(url, freshness=cache_freshness(month, ledger.cache_freshness_days))
        try:
            results = verify_emails(
                emails,
                verifier.settings(),
                progress=CountLogger(context.log.info, f"{connection} {segment}"),
                cache=cache,
            )
        finally:
            cache.close()
        elapsed = time.monotonic() - started
        with CreditLedger(url) as credits:
            charge = credits.charge(connection, month, results, run_id=context.run.run_id)
        statuses = value_counts(results, "status", VERIFICATION_STATUSES)
        from_cache = int(results.get_column("from_cache").sum())
        context.log.info(
            f"{connection} {segment}: {results.height:,} addresses verified in {elapsed:.1f} s "
            f"({from_cache:,} from cache); {charge.charged:,} credits charged, "
            f"{charge.already_charged:,} already charged this month, "
            f"{charge.refunded_unknown:,} unknown refunded"
        )
        return dg.Output(
            results,
            metadata={
                "addresses": results.height,
                "by_status": counts_table(statuses, ("status", "addresses")),
                **{f"status_{name}": count for name, count in statuses.items()},
                "by_reason": counts_table(
                    dict(
                        sorted(value_counts(results, "reason", ()).items(), key=lambda kv: -kv[1])
                    ),
                    ("reason", "addresses"),
                ),
                "from_cache": from_cache,
                "credits_charged": charge.charged,
                "credits_already_charged": charge.already_charged,
                "credits_refunded_unknown": charge.refunded_unknown,
                "verify_seconds": round(elapsed, 2),
                "addresses_per_second": round(results.height / max(elapsed, 1e-9), 1),
                "preview": preview(results),
            },
        )

    @dg.asset(
        key=[connection, "clean_plan"],
        description=(
            "What the clean step would do to each contact (keep / unsubscribe / delete), per the "
            "connection's policy; review it here before anything is applied."
        ),
        ins={
            "contacts": dg.AssetIn(key=[connection, "segment_contacts"]),
            "verifications": dg.AssetIn(key=[connection, "verifications"]),
        },
        kinds={"polars"},
        **common,
    )
    def clean_plan(
        context: dg.AssetExecutionContext, contacts: pl.DataFrame, verifications: pl.DataFrame
    ) -> dg.Output[pl.DataFrame]:
        _, segment = split_key(context)
        parsed = parse_segment(segment)
        list_ids = [parsed.id] if parsed.kind == "list" and parsed.id is not None else None
        plan = build_clean_plan(contacts, verifications, settings.policy, segment_list_ids=list_ids)
        summary = plan_summary(plan)
        # The apply step's guard, run now so that whoever reviews the plan sees it first.
        assessment = assess_plan(plan, verifications)
        if not assessment.ok:
            context.log.warning(
                f"{connection} {segment}: this plan looks like a verifier failure, not a dirty "
                "list: " + "; ".join(f.message for f in assessment.findings)
            )
        context.log.info(
            f"{connection} {segment}: plan for {plan.height:,} contacts: "
            + ", ".join(f"{count:,} {action}" for action, count in summary["by_action"].items())
        )
        changes = plan.filter(pl.col("action") != "keep")
        return dg.Output(
            plan,
            metadata={
                "contacts": plan.height,
                "by_category": counts_table(summary["by_category"], ("category", "contacts")),
                "by_action": counts_table(summary["by_action"], ("action", "contacts")),
                **{f"action_{name}": summary["by_action"].get(name, 0) for name in PLAN_ACTIONS},
                **{
                    f"category_{name}": summary["by_category"].get(name, 0)
                    for name in PLAN_CATEGORIES
                },
                "list_unsubscriptions": summary["list_unsubscriptions"],
                "policy": dg.MetadataValue.json(settings.policy.as_dict()),
                "auto_apply": settings.auto_apply,
                "plan_looks_sane": assessment.ok,
                "assessment": dg.MetadataValue.json(assessment.as_metadata()),
                "changes_preview": preview(changes),
            },
        )

    return [segment_contacts, verifications, clean_plan]
