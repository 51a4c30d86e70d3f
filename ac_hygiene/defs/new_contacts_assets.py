"""The new-contacts watch: per window, what changed, its verification and its clean plan.

`<conn>/new_contacts` -> `<conn>/new_verifications` -> `<conn>/new_clean_plan` (-> the apply step,
when the connection's `auto_apply` is on: see `window_asset_names`), in a group of their own,
`<conn>_new_contacts`, beside the monthly assets.

Partitions: one dynamic partition per window, keyed by the window itself in ISO 8601 basic form,
`20261205T060000Z--20261205T120000Z` (start and end, both included). Why not a daily partition:
the sensor reads every few hours, and a daily partition would be re-materialized by each window
of the day, each replacing the previous window's tables - a plan under review (`auto_apply:
false`) would vanish before anyone applied it. One partition per window keeps every window's
contacts, verdicts and plan side by side in the UI, lets any window be re-run from the UI as it
was (the key says which instants it covers), and gives the apply step a plan per window. The
billing month is the month in which the window ends (UTC): a window is charged to that month's
ledger like any segment, so an address the monthly run verified this month costs nothing again.

The steps are the monthly ones (`defs.steps`): the same engine, cache, ledger, policy, plan and
guard. What differs is what is verified: only the window's contacts whose address is new to us
(`hygiene.address_book.classify_changes`), never a contact that changed only its name.
"""

import re
import time
from datetime import UTC, datetime

import dagster as dg
import pandera.polars as pa
import polars as pl

from ac_hygiene.activecampaign.changes import ChangeWindow, read_changes_sync
from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.apply_assets import ApplyTarget, apply_asset
from ac_hygiene.defs.checks import (
    every_email_verified,
    guardrail_checks,
    plan_matches_segment,
    schema_result,
)
from ac_hygiene.defs.locks import account_lock
from ac_hygiene.defs.metadata import counts_table, preview, value_counts
from ac_hygiene.defs.resources import (
    ActiveCampaignResource,
    LedgerResource,
    VerifierResource,
    activecampaign_resource_key,
)
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG
from ac_hygiene.defs.steps import (
    plan_contacts,
    plan_metadata,
    remember_addresses,
    run_has_ended,
    segment_emails,
    verification_metadata,
    verify_and_charge,
)
from ac_hygiene.hygiene.address_book import CHANGES, AddressBook, classify_changes
from ac_hygiene.schemas import CleanPlan, Contacts, Verifications

NEW_CONTACTS = "new_contacts"
NEW_VERIFICATIONS = "new_verifications"
NEW_CLEAN_PLAN = "new_clean_plan"
#: The apply step of a window, once the apply asset exists (issue 9): same partitions, input
#: `new_clean_plan` (schema `CleanPlan`, exactly as `clean_plan`).
NEW_APPLIED_ACTIONS = "new_applied_actions"
WINDOW_ASSETS = (NEW_CONTACTS, NEW_VERIFICATIONS, NEW_CLEAN_PLAN)

_STAMP = "%Y%m%dT%H%M%SZ"
_KEY = re.compile(r"(\d{8}T\d{6}Z)--(\d{8}T\d{6}Z)")


class WindowContacts(Contacts):
    """`Contacts`, plus what changed (`hygiene.address_book.CHANGES`) and whether to verify."""

    change: pl.String = pa.Field(isin=CHANGES)
    verify: pl.Boolean


def window_group(connection: str) -> str:
    return f"{connection}_new_contacts"


def windows_name(connection: str) -> str:
    """The connection's dynamic partition set of windows."""
    return f"{connection}__new_contacts_windows"


def window_partitions(connection: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=windows_name(connection))


def window_key(window: ChangeWindow) -> str:
    """`20261205T060000Z--20261205T120000Z`: the window's start and end (UTC, whole seconds)."""
    return f"{window.since.strftime(_STAMP)}--{window.until.strftime(_STAMP)}"


def parse_window_key(key: str) -> ChangeWindow:
    match = _KEY.fullmatch(key)
    if not match:
        raise ValueError(
            f"not a new-contacts window key: {key!r} (expected e.g. "
            "20261205T060000Z--20261205T120000Z)"
        )
    since, until = (datetime.strptime(m, _STAMP).replace(tzinfo=UTC) for m in match.groups())
    return ChangeWindow(since=since, until=until)


def window_asset_names(settings: ConnectionSettings) -> tuple[str, ...]:
    """The assets a window run materializes: with `auto_apply`, the window's plan is applied in
    the same run (`new_applied_actions`)."""
    return (*WINDOW_ASSETS, NEW_APPLIED_ACTIONS) if settings.auto_apply else WINDOW_ASSETS


def _window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> ChangeWindow:
    return parse_window_key(str(context.partition_key))


def to_verify(contacts: pl.DataFrame) -> pl.DataFrame:
    """The window's contacts whose address is verified (and planned)."""
    return contacts.filter(pl.col("verify")).drop("change", "verify")


def new_contacts_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    connection = settings.name
    resource_key = activecampaign_resource_key(connection)
    common = {
        "group_name": window_group(connection),
        "partitions_def": window_partitions(connection),
        "tags": {CONNECTION_TAG: connection},
    }

    @dg.asset(
        key=[connection, NEW_CONTACTS],
        description=(
            "The contacts created or changed in the window (filters[created_after] / "
            "filters[updated_after], keyset-paged), each with what changed: a new contact, a new "
            "address, or anything else (not verified again)."
        ),
        ins={"tags": dg.AssetIn(key=[connection, "tags"], metadata={"optional": True})},
        required_resource_keys={resource_key, "ledger"},
        kinds={"activecampaign", "polars"},
        **common,
    )
    def new_contacts(
        context: dg.AssetExecutionContext, tags: pl.DataFrame | None
    ) -> dg.Output[pl.DataFrame]:
        tag_run(context)
        window = _window(context)
        resource: ActiveCampaignResource = getattr(context.resources, resource_key)
        ledger: LedgerResource = context.resources.ledger
        with account_lock(connection) as lock_wait:
            started = time.monotonic()
            read = read_changes_sync(
                resource.connection(),
                window,
                rate=resource.rate,
                known_tag_ids=None if tags is None else tags.get_column("tag_id"),
            )
            elapsed = time.monotonic() - started
        seen = read.contacts
        with AddressBook(ledger.database_url()) as book:
            known = book.known(connection, seen.get_column("contact_id").to_list())
            charged = book.charged_keys(connection, window.month, seen)
        frame = WindowContacts.validate(classify_changes(seen, known, charged, window.since))
        changes = value_counts(frame, "change", CHANGES)
        new_addresses = len(segment_emails(to_verify(frame)))
        context.log.info(
            f"{connection} window {window.since:%Y-%m-%d %H:%M:%S} .. {window.until:%H:%M:%S} "
            f"UTC: {frame.height:,} contacts created or changed ({read.returned:,} read in "
            f"{read.requests} requests, {elapsed:.1f} s); {new_addresses:,} new address(es) to "
            "verify; " + ", ".join(f"{n:,} {c}" for c, n in changes.items() if n)
        )
        return dg.Output(
            frame,
            metadata={
                "window_since": window.since.isoformat(),
                "window_until": window.until.isoformat(),
                "billing_month": window.month,
                "contacts_seen": frame.height,
                "new_addresses": new_addresses,
                "by_change": counts_table(changes, ("change", "contacts")),
                **{f"change_{name}": count for name, count in changes.items()},
                "contacts_read": read.returned,
                "requests": read.requests,
                "read_seconds": round(elapsed, 2),
                "account_lock_wait_seconds": round(lock_wait, 2),
                "preview": preview(frame),
            },
        )

    @dg.asset(
        key=[connection, NEW_VERIFICATIONS],
        description=(
            "One verification per new address of the window, charged to the month's ledger "
            "(an address already verified this month is not charged again)."
        ),
        ins={"contacts": dg.AssetIn(key=[connection, NEW_CONTACTS])},
        kinds={"polars"},
        **common,
    )
    def new_verifications(
        context: dg.AssetExecutionContext,
        contacts: pl.DataFrame,
        verifier: VerifierResource,
        ledger: LedgerResource,
    ) -> dg.Output[pl.DataFrame]:
        window = _window(context)
        url = ledger.database_url()
        verified = verify_and_charge(
            to_verify(contacts).get_column("email").to_list(),
            connection=connection,
            month=window.month,
            run_id=context.run.run_id,
            settings=verifier.settings(),
            ledger_url=url,
            cache_freshness_days=ledger.cache_freshness_days,
            reservation_ttl_minutes=ledger.reservation_ttl_minutes,
            log=context.log.info,
            label=f"window {window_key(window)}",
            policy=settings.policy,
            warn=context.log.warning,
            run_has_ended=run_has_ended(context.instance),
        )
        # Every contact of the window is now known with its address (same-address ones too).
        remember_addresses(url, connection, contacts.drop("change", "verify"))
        return dg.Output(
            verified.results,
            metadata={"billing_month": window.month, **verification_metadata(verified)},
        )

    @dg.asset(
        key=[connection, NEW_CLEAN_PLAN],
        description=(
            "What the clean step would do to each verified contact of the window, per the "
            "connection's policy (same schema as clean_plan)."
        ),
        ins={
            "contacts": dg.AssetIn(key=[connection, NEW_CONTACTS]),
            "verifications": dg.AssetIn(key=[connection, NEW_VERIFICATIONS]),
        },
        kinds={"polars"},
        **common,
    )
    def new_clean_plan(
        context: dg.AssetExecutionContext, contacts: pl.DataFrame, verifications: pl.DataFrame
    ) -> dg.Output[pl.DataFrame]:
        window = _window(context)
        planned = plan_contacts(
            to_verify(contacts),
            verifications,
            settings,
            list_ids=None,  # a window is the whole account: unsubscribe from every active list
            log=context.log.info,
            warn=context.log.warning,
            label=f"window {window_key(window)}",
        )
        return dg.Output(
            planned.plan, metadata=plan_metadata(planned, settings, window_key(window))
        )

    window_assets = [new_contacts, new_verifications, new_clean_plan]
    if settings.auto_apply:  # the window's plan applied in the same run, guardrails first
        window_assets.append(apply_asset(settings, window_apply_target(connection)))
    return window_assets


def window_apply_target(connection: str) -> ApplyTarget:
    return ApplyTarget(
        name=NEW_APPLIED_ACTIONS,
        plan=NEW_CLEAN_PLAN,
        verifications=NEW_VERIFICATIONS,
        contacts=NEW_CONTACTS,
        partitions=window_partitions(connection),
        group=window_group(connection),
        description=(
            "Applies the window's clean plan to ActiveCampaign (auto_apply is on), exactly as "
            "applied_actions does for a monthly segment: guardrails first, backup before delete."
        ),
    )


def _schema_check(
    key: dg.AssetKey, model: type[pa.DataFrameModel], partitions: dg.PartitionsDefinition
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name="matches_schema",
        description=f"Every row matches the {model.__name__} model.",
        blocking=True,
        partitions_def=partitions,
    )
    def _check(frame: pl.DataFrame) -> dg.AssetCheckResult:
        return schema_result(frame, model)

    return _check


def new_contacts_checks(settings: ConnectionSettings) -> list[dg.AssetChecksDefinition]:
    """Blocking checks, as on the monthly tables: schemas, and plan/verdicts cover the window."""
    connection = settings.name
    partitions = window_partitions(connection)
    contacts_in = {"contacts": dg.AssetIn(key=[connection, NEW_CONTACTS])}
    checks = [
        _schema_check(dg.AssetKey([connection, name]), model, partitions)
        for name, model in (
            (NEW_CONTACTS, WindowContacts),
            (NEW_VERIFICATIONS, Verifications),
            (NEW_CLEAN_PLAN, CleanPlan),
        )
    ]

    @dg.asset_check(
        asset=dg.AssetKey([connection, NEW_CLEAN_PLAN]),
        name="plan_matches_window",
        description="One plan row per verified contact of the window, and no other contact.",
        blocking=True,
        partitions_def=partitions,
        additional_ins=contacts_in,
    )
    def _plan_matches_window(plan: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
        return plan_matches_segment(plan, to_verify(contacts))

    @dg.asset_check(
        asset=dg.AssetKey([connection, NEW_VERIFICATIONS]),
        name="every_new_address_verified",
        description="Every new address of the window has a verification result.",
        blocking=True,
        partitions_def=partitions,
        additional_ins=contacts_in,
    )
    def _every_verified(results: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
        return every_email_verified(results, to_verify(contacts))

    guardrails = guardrail_checks(settings, NEW_CLEAN_PLAN, NEW_VERIFICATIONS, partitions)
    return [*checks, _plan_matches_window, _every_verified, *guardrails]
