"""The month's account snapshot: every contact of the account, read once, the segments cut from it.

Segmenting a large account is for chunking the work (verification, credits, review, apply), not
for reading it piecemeal: reading each tag through `GET /contacts?tagid=` costs a page per 100
memberships (contacts with three tags are read three times) and never reaches contacts with no
tag. One keyset pass over the account (`ceil(contacts / 100)` requests, memberships sideloaded,
every page checkpointed so a killed run resumes where it stopped) is the only full read of the
month; `segment_contacts` then cuts every segment, remainder included, from it without a request.

While the pages arrive, their addresses are verified into the shared result cache on a worker
thread (`snapshot_warmup`, `hygiene.warmup`): the read is rate-bound and left the verifier idle,
and the segment runs then mostly read verdicts from the cache (and charge them as before).
"""

import json

import dagster as dg
import polars as pl

from ac_hygiene.activecampaign.contacts import PageProgress
from ac_hygiene.activecampaign.segments import ALL, ids_in, segment_sizes
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.locks import read_under_lock
from ac_hygiene.defs.metadata import preview
from ac_hygiene.defs.partitions import PastMonthError, ensure_runnable_month, months
from ac_hygiene.defs.paths import checkpoint_dir
from ac_hygiene.defs.progress import PageLogger
from ac_hygiene.defs.resources import ActiveCampaignResource, activecampaign_resource_key
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG
from ac_hygiene.defs.snapshot_warmup import SnapshotWarmup

SNAPSHOT = "account_snapshot"
#: Checkpoint directory name of the snapshot (beside the segments', which never take this name).
SNAPSHOT_CHECKPOINT = "snapshot"


def refuse_past_month(month: str) -> None:
    """`ensure_runnable_month` as a step failure that says what to do."""
    try:
        ensure_runnable_month(month)
    except PastMonthError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def snapshot_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    connection = settings.name
    resource_key = activecampaign_resource_key(connection)

    @dg.asset(
        key=[connection, SNAPSHOT],
        group_name=connection,
        partitions_def=months(settings.start_month),
        description=(
            "Every contact of the account with its list memberships and tags, read once a month "
            "(one resumable keyset pass); the month's segments are cut from it. Its addresses "
            "are verified into the result cache while it is read (nothing charged here)."
        ),
        deps=[dg.AssetKey([connection, "lists"])],
        # The latest tags table spares a re-read of the tags when it knows every tag on the
        # contacts (see activecampaign.contacts); never materialized yet: None.
        ins={"tags": dg.AssetIn(key=[connection, "tags"], metadata={"optional": True})},
        # The verifier and the ledger for the cache warm-up during the read.
        required_resource_keys={resource_key, "verifier", "ledger"},
        kinds={"activecampaign", "polars"},
        tags={CONNECTION_TAG: connection},
    )
    def account_snapshot(
        context: dg.AssetExecutionContext,
        tags: pl.DataFrame | None,
    ) -> dg.Output[pl.DataFrame]:
        month = context.partition_key
        tag_run(context)
        refuse_past_month(month)
        resource: ActiveCampaignResource = getattr(context.resources, resource_key)
        account = resource.connection()
        pages = PageLogger(context.log.info, f"{connection} snapshot")
        resumed = [0]
        warmup = SnapshotWarmup(
            context.log,
            connection=connection,
            month=month,
            verifier=context.resources.verifier,
            ledger=context.resources.ledger,
            policy=settings.policy,
        )

        def progress(page: PageProgress) -> None:
            resumed[0] = page.resumed_pages
            pages(page)
            warmup.page(page)

        try:
            frame, elapsed, lock_wait = read_under_lock(
                connection,
                account,
                ALL,
                checkpoint=checkpoint_dir(connection, month, SNAPSHOT_CHECKPOINT),
                rate=resource.rate,
                progress=progress,
                tags=tags,
            )
        except BaseException:
            warmup.abort()
            raise
        warmed = warmup.finish()
        fetched = pages.pages - resumed[0]
        # Honest about a resumed read: never "2,000 contacts in 0 pages".
        context.log.info(f"{month}: " + pages.summary(frame.height, elapsed))
        sizes = segment_sizes(frame)
        tag_ids, list_ids = ids_in(sizes, "tag"), ids_in(sizes, "list")
        return dg.Output(
            frame,
            metadata={
                "contacts": frame.height,
                "pages": fetched,
                "pages_from_checkpoint": resumed[0],
                "extract_seconds": round(elapsed, 2),
                "account_lock_wait_seconds": round(lock_wait, 2),
                # What the planner needs, so that it plans the month without a request.
                "tag_ids": dg.MetadataValue.json(tag_ids),
                "list_ids": dg.MetadataValue.json(list_ids),
                "untagged": sizes["untagged"],
                # Contacts per segment: the planner queues the largest segments first.
                "segment_sizes": dg.MetadataValue.json(sizes),
                **warmed,
                "preview": preview(frame),
            },
        )

    return [account_snapshot]


def snapshot_metadata(
    instance: dg.DagsterInstance, connection: str, month: str
) -> dict[str, object] | None:
    """Metadata of the month's snapshot, or None if the month has none (one storage query)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey([connection, SNAPSHOT]), asset_partitions=[month]
        ),
        limit=1,
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    metadata = records[0].asset_materialization.metadata
    values = {k: getattr(v, "value", v) for k, v in metadata.items()}
    for key in ("tag_ids", "list_ids", "segment_sizes"):
        if isinstance(values.get(key), str):
            values[key] = json.loads(values[key])
    return values
