"""Per (month, segment): the segment's contacts, their verification, and the clean plan.

The three assets of one partition run together in one run. In a planned month the contacts are
cut from the month's account snapshot without a request, so segment runs never call
ActiveCampaign and run side by side; only a backfill with no snapshot reads its segment from the
API (and its run then queues behind the account's other ActiveCampaign runs, see run_queue).
"""

import dagster as dg
import polars as pl

from ac_hygiene.activecampaign.segments import parse_segment, select_segment
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.locks import read_under_lock
from ac_hygiene.defs.metadata import preview
from ac_hygiene.defs.partitions import MONTH, month_segment_partitions, split_key
from ac_hygiene.defs.paths import checkpoint_dir
from ac_hygiene.defs.progress import PageLogger
from ac_hygiene.defs.resources import (
    ActiveCampaignResource,
    LedgerResource,
    VerifierResource,
    activecampaign_resource_key,
)
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG
from ac_hygiene.defs.snapshot_assets import SNAPSHOT, refuse_past_month
from ac_hygiene.defs.steps import (  # shared with the new-contacts windows
    cache_freshness,
    plan_contacts,
    plan_metadata,
    remember_addresses,
    run_has_ended,
    segment_emails,
    verification_metadata,
    verify_and_charge,
)

__all__ = ["SEGMENT_ASSETS", "cache_freshness", "segment_assets", "segment_emails"]

SEGMENT_ASSETS = ("segment_contacts", "verifications", "clean_plan")


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
            "The contacts of one segment (a list, a tag, or the whole account) as ActiveCampaign "
            "has them this month: one row per contact with its email, names, dates, the lists it "
            "is subscribed to or unsubscribed from, and its tags."
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

            def waited(lock_wait: float) -> None:
                if lock_wait >= 1:
                    context.log.info(f"waited {lock_wait:.1f} s for the account's previous read")

            frame, elapsed, lock_wait = read_under_lock(
                connection,
                account,
                parsed,
                checkpoint=checkpoint_dir(connection, month, segment),
                rate=resource.rate,
                progress=logger,
                tags=tags,
                on_lock=waited,
            )
            source, pages = "activecampaign", logger.read
            # Honest about a resumed read: never "2,000 contacts in 0 pages".
            context.log.info(f"no snapshot for {month}; " + logger.summary(frame.height, elapsed))
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
            "One verification per distinct address of the segment (syntax, DNS, lists, SMTP), "
            "reused from the result cache when fresh. Its cost is held on the connection's "
            "balance before anything is verified (the run stops if the balance or the monthly "
            "budget cannot cover it); 1 credit per distinct address a month, unknown refunded."
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
        url = ledger.database_url()
        verified = verify_and_charge(
            contacts.get_column("email").to_list(),
            connection=connection,
            month=month,
            run_id=context.run.run_id,
            settings=verifier.settings(),
            ledger_url=url,
            cache_freshness_days=ledger.cache_freshness_days,
            reservation_ttl_minutes=ledger.reservation_ttl_minutes,
            log=context.log.info,
            label=segment,
            policy=settings.policy,
            warn=context.log.warning,
            run_has_ended=run_has_ended(context.instance),
        )
        # Seam for the new-contacts watch: the address each contact was verified with this month.
        remember_addresses(url, connection, contacts)
        return dg.Output(verified.results, metadata=verification_metadata(verified))

    @dg.asset(
        key=[connection, "clean_plan"],
        description=(
            "The proposed clean-up of the segment, for review before anything is changed in "
            "ActiveCampaign: one row per contact with its category (valid, invalid, disposable, "
            "catch_all, unknown, risky; derived from the verification status), the action the "
            "connection's policy gives that category (keep, unsubscribe or delete), the lists an "
            "unsubscribe would touch, and the reason."
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
        planned = plan_contacts(
            contacts,
            verifications,
            settings,
            list_ids=list_ids,
            log=context.log.info,
            warn=context.log.warning,
            label=segment,
        )
        return dg.Output(planned.plan, metadata=plan_metadata(planned, settings, segment))

    return [segment_contacts, verifications, clean_plan]
