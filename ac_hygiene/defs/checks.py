"""Asset checks: every table matches its pandera model, and the segment's tables agree.

They are blocking: a segment whose contacts fail their schema is not verified (no credits spent on
garbage), and a plan that is not exactly the segment's contacts is not reported. The pandera models
in `ac_hygiene.schemas` are validated here directly (dagster-pandera's types only fit IO managers
that hand pandas frames around).
"""

import dagster as dg
import pandera.errors
import pandera.polars as pa
import polars as pl

from ac_hygiene.config import ConnectionSettings
from ac_hygiene.defs.account_assets import ACCOUNT_TABLES
from ac_hygiene.defs.metadata import markdown_table
from ac_hygiene.defs.partitions import month_segment_partitions
from ac_hygiene.defs.segment_assets import segment_emails
from ac_hygiene.hygiene.assessment import assess_plan
from ac_hygiene.hygiene.guardrails import change_share_finding, refusal_message
from ac_hygiene.schemas import (
    AppliedActions,
    CleanPlan,
    Contacts,
    Fields,
    Lists,
    Tags,
    Verifications,
)

_ACCOUNT_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "lists": Lists,
    "tags": Tags,
    "fields": Fields,
}
_SEGMENT_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "segment_contacts": Contacts,
    "verifications": Verifications,
    "clean_plan": CleanPlan,
    "applied_actions": AppliedActions,
}
EXAMPLES = 10


def schema_result(frame: pl.DataFrame, model: type[pa.DataFrameModel]) -> dg.AssetCheckResult:
    """Validate `frame` against `model`; on failure, say which columns broke which rule."""
    try:
        model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        summary = (
            cases.group_by("column", "check", maintain_order=True)
            .agg(
                pl.len().alias("failures"),
                pl.col("failure_case").head(3).cast(pl.String).str.join(", ").alias("examples"),
            )
            .sort("failures", descending=True)
        )
        return dg.AssetCheckResult(
            passed=False,
            description=f"{cases.height} value(s) break the {model.__name__} model",
            metadata={
                "failures": cases.height,
                "rows": frame.height,
                "failures_by_rule": dg.MetadataValue.md(markdown_table(summary, limit=50)),
            },
        )
    return dg.AssetCheckResult(
        passed=True, metadata={"rows": frame.height, "model": model.__name__}
    )


def plan_matches_segment(plan: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
    """Exactly one plan row per segment contact: none from outside the segment, none left out."""
    in_plan = plan.select("contact_id").unique()
    in_segment = contacts.select("contact_id").unique()
    strangers = in_plan.join(in_segment, on="contact_id", how="anti").sort("contact_id")
    left_out = in_segment.join(in_plan, on="contact_id", how="anti").sort("contact_id")
    return dg.AssetCheckResult(
        passed=strangers.height == 0 and left_out.height == 0,
        description=(
            None
            if strangers.height == 0 and left_out.height == 0
            else f"{strangers.height} planned contact(s) are not in the segment; "
            f"{left_out.height} segment contact(s) have no plan row"
        ),
        metadata={
            "not_in_segment": strangers.height,
            "missing_from_plan": left_out.height,
            "examples_not_in_segment": strangers.head(EXAMPLES)["contact_id"].to_list(),
            "examples_missing_from_plan": left_out.head(EXAMPLES)["contact_id"].to_list(),
        },
    )


def every_email_verified(results: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
    """Every address of the segment has a verification row (a gap would become `not_verified`)."""
    verified = set(results.get_column("email").drop_nulls().to_list())
    unverified = [email for email in segment_emails(contacts) if email not in verified]
    return dg.AssetCheckResult(
        passed=not unverified,
        description=f"{len(unverified)} address(es) were not verified" if unverified else None,
        metadata={"unverified": len(unverified), "examples": unverified[:EXAMPLES]},
    )


def plan_looks_sane(plan: pl.DataFrame, verifications: pl.DataFrame) -> dg.AssetCheckResult:
    """The plan guard (`assess_plan`): a plan shaped like a verifier failure fails, blocking."""
    assessment = assess_plan(plan, verifications)
    return dg.AssetCheckResult(
        passed=assessment.ok,
        description=None if assessment.ok else refusal_message(assessment.findings),
        metadata={"assessment": dg.MetadataValue.json(assessment.as_metadata())},
    )


def change_share_within_limit(plan: pl.DataFrame, max_share: float) -> dg.AssetCheckResult:
    """Unsubscribe + Delete at most `max_share` of the segment's contacts."""
    finding = change_share_finding(plan, max_share)
    changes = plan.filter(pl.col("action") != "keep").height
    return dg.AssetCheckResult(
        passed=finding is None,
        description=None if finding is None else refusal_message((finding,)),
        metadata={
            "changes": changes,
            "contacts": plan.height,
            "share": round(changes / plan.height, 4) if plan.height else 0.0,
            "limit": max_share,
        },
    )


def _schema_check(
    key: dg.AssetKey,
    model: type[pa.DataFrameModel],
    partitions: dg.PartitionsDefinition | None,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name="matches_schema",
        description=(
            f"Every row has the columns, types and allowed values of the {model.__name__} table "
            "(ac_hygiene.schemas); a failure stops the run before anything downstream reads it."
        ),
        blocking=True,
        partitions_def=partitions,
    )
    def _check(frame: pl.DataFrame) -> dg.AssetCheckResult:
        return schema_result(frame, model)

    return _check


def connection_checks(settings: ConnectionSettings) -> list[dg.AssetChecksDefinition]:
    connection = settings.name
    partitions = month_segment_partitions(connection, settings.start_month)
    contacts_in = {"contacts": dg.AssetIn(key=[connection, "segment_contacts"])}
    checks = [
        _schema_check(dg.AssetKey([connection, name]), _ACCOUNT_MODELS[name], None)
        for name in ACCOUNT_TABLES
    ]
    checks += [
        _schema_check(dg.AssetKey([connection, name]), model, partitions)
        for name, model in _SEGMENT_MODELS.items()
    ]

    @dg.asset_check(
        asset=dg.AssetKey([connection, "clean_plan"]),
        name="plan_matches_segment",
        description=(
            "The clean plan has exactly one row per contact of the segment: nobody is left out of "
            "the review, and no contact from outside the segment can be acted on."
        ),
        blocking=True,
        partitions_def=partitions,
        additional_ins=contacts_in,
    )
    def _plan_matches_segment(plan: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
        return plan_matches_segment(plan, contacts)

    @dg.asset_check(
        asset=dg.AssetKey([connection, "verifications"]),
        name="every_email_verified",
        description=(
            "Every email address in the segment has a verification result, so no contact is "
            "planned without evidence."
        ),
        blocking=True,
        partitions_def=partitions,
        additional_ins=contacts_in,
    )
    def _every_email_verified(results: pl.DataFrame, contacts: pl.DataFrame) -> dg.AssetCheckResult:
        return every_email_verified(results, contacts)

    return [
        *checks,
        _plan_matches_segment,
        _every_email_verified,
        *guardrail_checks(settings, "clean_plan", "verifications", partitions),
    ]


def guardrail_checks(
    settings: ConnectionSettings,
    plan_asset: str,
    verifications_asset: str,
    partitions: dg.PartitionsDefinition,
) -> list[dg.AssetChecksDefinition]:
    """The apply step's guardrails as blocking checks on a plan (a monthly segment's or a
    new-contacts window's), so a suspect plan never looks good to anything downstream."""
    connection = settings.name

    @dg.asset_check(
        asset=dg.AssetKey([connection, plan_asset]),
        name="plan_looks_sane",
        description=(
            "The plan guard: a plan shaped like a verifier or network failure (most probes "
            "unknown, invalids for DNS reasons, one big domain failing alike) is refused."
        ),
        blocking=True,
        partitions_def=partitions,
        additional_ins={"verifications": dg.AssetIn(key=[connection, verifications_asset])},
    )
    def _plan_looks_sane(plan: pl.DataFrame, verifications: pl.DataFrame) -> dg.AssetCheckResult:
        return plan_looks_sane(plan, verifications)

    @dg.asset_check(
        asset=dg.AssetKey([connection, plan_asset]),
        name="change_share_within_limit",
        description=(
            f"Unsubscribe + Delete at most {settings.max_change_share:.0%} of the plan's "
            "contacts (applying more needs an explicit, recorded override)."
        ),
        blocking=True,
        partitions_def=partitions,
    )
    def _change_share(plan: pl.DataFrame) -> dg.AssetCheckResult:
        return change_share_within_limit(plan, settings.max_change_share)

    return [_plan_looks_sane, _change_share]
