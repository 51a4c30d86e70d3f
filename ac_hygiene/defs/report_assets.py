"""The monthly hygiene report of a connection: every segment run this month, side by side.

Segments overlap (a contact can carry two tags, and `all` contains everyone), so totals are
counted over distinct contacts, and credits come from the ledger, which charges an address once per
connection per month however many segments contained it.
"""

import dagster as dg
import polars as pl

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.metadata import counts_table, markdown_table, value_counts
from ac_hygiene.defs.partitions import SEGMENT, months
from ac_hygiene.defs.resources import LedgerResource
from ac_hygiene.defs.run_queue import tag_run
from ac_hygiene.defs.run_tags import CONNECTION_TAG
from ac_hygiene.hygiene.balance import AccountState
from ac_hygiene.hygiene.guardrails import guard_findings
from ac_hygiene.hygiene.ledger import CreditLedger
from ac_hygiene.schemas import PLAN_ACTIONS, VERIFICATION_STATUSES

REPORT_SCHEMA = {
    "segment": pl.String,
    "name": pl.String,
    "contacts": pl.Int64,
    **{status: pl.Int64 for status in VERIFICATION_STATUSES},
    **{action: pl.Int64 for action in PLAN_ACTIONS},
    "guardrails": pl.String,
}
PASSED = "pass"


def _segment_of(partition_key: str) -> str:
    if isinstance(partition_key, dg.MultiPartitionKey):
        return partition_key.keys_by_dimension[SEGMENT]
    return str(partition_key).split("|", 1)[1]


def segment_names(lists: pl.DataFrame | None, tags: pl.DataFrame | None) -> dict[str, str]:
    """`list-3` -> the list's name, `tag-7` -> the tag, as the account calls them."""
    names = {"all": "all contacts"}
    if lists is not None:
        names |= {f"list-{i}": n for i, n in lists.select("list_id", "name").iter_rows()}
    if tags is not None:
        names |= {f"tag-{i}": n for i, n in tags.select("tag_id", "tag").iter_rows()}
    return names


def guardrail_verdicts(
    plans: dict[str, pl.DataFrame],
    verifications: dict[str, pl.DataFrame],
    max_change_share: float,
) -> dict[str, str]:
    """Per plan, `pass` or what the apply step's guardrails refuse it for (the same rules as the
    blocking checks on `clean_plan`): a refused plan's actions are not counted as planned."""
    verdicts = {}
    for key, plan in plans.items():
        checked = verifications.get(key)
        if checked is None:
            verdicts[key] = "refused: no verifications"
            continue
        findings = guard_findings(plan, checked, max_change_share=max_change_share)
        verdicts[key] = (
            PASSED if not findings else "refused: " + ", ".join(f.code for f in findings)
        )
    return verdicts


def report_frame(
    plans: dict[str, pl.DataFrame],
    verifications: dict[str, pl.DataFrame],
    names: dict[str, str] | None = None,
    verdicts: dict[str, str] | None = None,
) -> pl.DataFrame:
    """One row per segment: contacts, addresses per status, contacts per planned action, and
    the guardrails' verdict on its plan."""
    names = names or {}
    verdicts = verdicts or {}
    rows = []
    for key in sorted(plans, key=_segment_of):
        plan = plans[key]
        checked = verifications.get(key)
        statuses = value_counts(
            checked
            if checked is not None
            else pl.DataFrame({"status": []}, schema={"status": pl.String}),
            "status",
            VERIFICATION_STATUSES,
        )
        actions = value_counts(plan, "action", PLAN_ACTIONS)
        segment = _segment_of(key)
        rows.append(
            {
                "segment": segment,
                "name": names.get(segment),
                "contacts": plan.height,
                **statuses,
                **actions,
                "guardrails": verdicts.get(key, PASSED),
            }
        )
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)


def with_credits(frame: pl.DataFrame, by_segment: pl.DataFrame) -> pl.DataFrame:
    """The report with each segment's credits charged this month (every run of the segment);
    a segment's charges exclude addresses another segment charged first."""
    charged = by_segment.select("segment", pl.col("charged").alias("credits_charged"))
    return frame.join(charged, on="segment", how="left", maintain_order="left").with_columns(
        pl.col("credits_charged").fill_null(0)
    )


def credits_line(account: AccountState) -> str:
    """Balance and budget in one sentence."""
    parts = [
        f"balance {account.balance:,}" if account.metered else "unmetered (no balance configured)"
    ]
    if account.held:
        parts.append(f"{account.held:,} held by running segments")
    if account.monthly_budget is not None:
        parts.append(f"budget {account.monthly_budget:,} this month, {account.budget_left:,} left")
    return "; ".join(parts)


def distinct_actions(plans: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Planned actions over distinct contacts (a contact in two segments counts once)."""
    if not plans:
        return dict.fromkeys(PLAN_ACTIONS, 0)
    union = pl.concat([p.select("contact_id", "action") for p in plans.values()])
    return value_counts(union.unique("contact_id", keep="first"), "action", PLAN_ACTIONS)


def report_automation_condition(connection: str) -> dg.AutomationCondition:
    """Refresh the month's report whenever a segment of the month gets a new plan (or new
    verifications), once nothing upstream of it is still running.

    `AutomationCondition.eager()` would wait for *every* upstream partition, i.e. every registered
    list and tag, most of which are never run in a segmented month: it would never fire. The
    report reads whichever segments exist, so it needs a new plan and nothing in flight; a new
    lists or tags table alone (the month's first run) is no reason to report. Only the month in
    progress is refreshed (older reports stay what they were).
    """
    plans = dg.AssetSelection.assets(
        dg.AssetKey([connection, "clean_plan"]), dg.AssetKey([connection, "verifications"])
    )
    return (
        dg.AutomationCondition.in_latest_time_window()
        & dg.AutomationCondition.any_deps_updated().allow(plans).since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("report on new plans")


REPORT_AUTOMATION_SENSOR = "ac_hygiene__report_automation"


def report_automation_sensor(
    connections: list[str],
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the reports' automation condition every 3 s. On by default (unlike Dagster's
    implicit `default_automation_condition_sensor`): the report costs no request and no credit,
    and a report that only refreshes when someone switches a sensor on is not self-refreshing."""
    return dg.AutomationConditionSensorDefinition(
        REPORT_AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(*(dg.AssetKey([c, "hygiene_report"]) for c in connections)),
        default_status=dg.DefaultSensorStatus.RUNNING,
        # The report closes the month: it follows the last segment's plan by the tick interval
        # plus a run's start. A tick that finds nothing to do is a few reads of the instance.
        minimum_interval_seconds=3,
        description="Refreshes each connection's monthly report when a segment's plan changes.",
    )


def report_assets(settings: ConnectionSettings) -> list[dg.AssetsDefinition]:
    connection = settings.name
    by_month = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="month")
    # Only the segments actually run this month are read: the others are registered (so they can
    # be backfilled) but have no table.
    optional = {"allow_missing_partitions": True}

    @dg.asset(
        key=[connection, "hygiene_report"],
        group_name=connection,
        partitions_def=months(settings.start_month),
        automation_condition=report_automation_condition(connection),
        description=(
            "The month at a glance: per segment contacts, verification statuses, planned "
            "actions and credits charged; distinct-contact totals, the credits charged this "
            "month and the balance."
        ),
        ins={
            "plans": dg.AssetIn(
                key=[connection, "clean_plan"], partition_mapping=by_month, metadata=optional
            ),
            "checked": dg.AssetIn(
                key=[connection, "verifications"], partition_mapping=by_month, metadata=optional
            ),
            "lists": dg.AssetIn(key=[connection, "lists"], metadata={"optional": True}),
            "tags": dg.AssetIn(key=[connection, "tags"], metadata={"optional": True}),
        },
        kinds={"polars"},
        tags={CONNECTION_TAG: connection},
    )
    def hygiene_report(
        context: dg.AssetExecutionContext,
        plans: dict[str, pl.DataFrame],
        checked: dict[str, pl.DataFrame],
        lists: pl.DataFrame | None,
        tags: pl.DataFrame | None,
        ledger: LedgerResource,
    ) -> dg.Output[pl.DataFrame]:
        month = context.partition_key
        tag_run(context)
        verdicts = guardrail_verdicts(plans, checked, settings.max_change_share)
        frame = report_frame(plans, checked, segment_names(lists, tags), verdicts)
        # A plan the guardrails refuse is not a plan: its actions are not counted as planned.
        refused = sorted(_segment_of(k) for k, verdict in verdicts.items() if verdict != PASSED)
        totals = distinct_actions({k: p for k, p in plans.items() if verdicts[k] == PASSED})
        if refused:
            context.log.warning(
                f"{connection} {month}: the guardrails refuse the plan of {', '.join(refused)}; "
                "its actions are not counted as planned (see the segment's clean_plan checks)"
            )
        distinct = (
            pl.concat([p.select("contact_id") for p in plans.values()]).n_unique() if plans else 0
        )
        with CreditLedger(ledger.database_url()) as credits:
            used = credits.credits_used(connection, month)
            by_segment = credits.segments(connection, month)
            account = credits.account(connection, month)
            refunded = credits.refunds_held(connection, month)
        frame = with_credits(frame, by_segment)
        if frame.height == 0:
            context.log.warning(f"{connection} {month}: no segment has a clean plan this month yet")
        context.log.info(
            f"{connection} {month}: {frame.height} segment(s), {distinct:,} distinct contacts, "
            f"{used:,} credits used ({credits_line(account)}); planned "
            + ", ".join(f"{count:,} {action}" for action, count in totals.items())
        )
        return dg.Output(
            frame,
            metadata={
                "segments": frame.height,
                "distinct_contacts": distinct,
                "credits_used": used,
                "credits_refunded_unknown": refunded,
                "credits_by_segment": dg.MetadataValue.md(
                    markdown_table(by_segment.drop("held"), limit=200)
                ),
                "balance": account.balance if account.metered else "unmetered",
                "monthly_budget": (
                    "none" if account.monthly_budget is None else account.monthly_budget
                ),
                "credits": dg.MetadataValue.md(credits_line(account)),
                **{f"action_{name}": count for name, count in totals.items()},
                "by_action": counts_table(totals, ("action", "distinct contacts")),
                "segments_refused_by_guardrails": dg.MetadataValue.json(refused),
                "auto_apply": settings.auto_apply,
                "report": dg.MetadataValue.md(markdown_table(frame, limit=200)),
            },
        )

    return [hygiene_report]
