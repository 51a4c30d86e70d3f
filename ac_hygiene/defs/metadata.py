"""Materialization metadata a data team reads in the UI: sizes, schemas, previews, counts.

`dagster/row_count` and `dagster/column_schema` are the keys the UI knows (row count on the asset
page, the Columns tab); previews and count tables are Markdown so they render in the event log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

PREVIEW_ROWS = 10

#: Verification statuses worth a reviewer's eye, in the order a preview shows them.
INTERESTING_STATUSES = ("undeliverable", "risky", "unknown")
#: Plan categories a reviewer checks first: what is acted on, then what is kept on doubt.
INTERESTING_CATEGORIES = ("disposable", "invalid", "risky", "unknown", "catch_all")


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
    )


def table_metadata(frame: pl.DataFrame) -> dict[str, Any]:
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(frame)),
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def interesting_first(frame: pl.DataFrame, column: str, values: Sequence[str]) -> pl.DataFrame:
    """`frame` with rows whose `column` is one of `values` first, in that order of values, the
    others after them; the original order is kept within each group."""
    if column not in frame.columns or not values:
        return frame
    rank = {value: i for i, value in enumerate(values)}
    order = (
        pl.col(column)
        .cast(pl.String)
        .replace_strict(rank, default=len(values), return_dtype=pl.Int64)
        .fill_null(len(values))
    )
    return frame.with_row_index("_row").sort(order, "_row").drop("_row")


def markdown_table(
    frame: pl.DataFrame, limit: int = PREVIEW_ROWS, first: tuple[str, Sequence[str]] | None = None
) -> str:
    """The first `limit` rows as a Markdown table (no shape or dtype lines, unlike `str(frame)`).

    first: (column, values): rows with those values come first (see `interesting_first`), so a
    preview of ten rows out of thousands shows what needs review rather than the first ten.
    """
    if frame.width == 0:
        return "_(no columns)_"
    ordered = frame if first is None else interesting_first(frame, first[0], first[1])
    head = ordered.head(limit)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + "---|" * head.width,
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()),
    ]
    if frame.height > limit:
        order = ""
        if first is not None:
            order = f", {first[0]} {' / '.join(first[1])} first"
        lines.append(f"\n_{limit} of {frame.height:,} rows{order}_")
    elif frame.height == 0:
        lines.append("\n_(no rows)_")
    return "\n".join(lines)


def preview(
    frame: pl.DataFrame, limit: int = PREVIEW_ROWS, first: tuple[str, Sequence[str]] | None = None
) -> dg.MetadataValue:
    """A Markdown preview; `first=("status", INTERESTING_STATUSES)` puts the rows to review on
    top (undeliverable, then risky, then unknown), `first=("category", INTERESTING_CATEGORIES)`
    does the same for a plan."""
    return dg.MetadataValue.md(markdown_table(frame, limit, first))


def counts_table(
    counts: Mapping[str, int],
    header: tuple[str, str],
    meanings: Mapping[str, str] | None = None,
    note: str = "",
) -> dg.MetadataValue:
    """A two-column Markdown table (e.g. status -> contacts) with a share column.

    meanings: a sentence per row key, shown in a fourth column; note: a paragraph under the table
    (what the first column's words mean, so nobody has to guess).
    """
    total = sum(counts.values())
    explain = meanings is not None
    lines = [
        f"| {header[0]} | {header[1]} | share |" + (" meaning |" if explain else ""),
        "|---|---:|---:|" + ("---|" if explain else ""),
    ]
    for name, count in counts.items():
        share = f"{count / total:.1%}" if total else "-"
        meaning = f" {(meanings or {}).get(name, '')} |" if explain else ""
        lines.append(f"| {name} | {count:,} | {share} |{meaning}")
    lines.append(f"| **total** | **{total:,}** | |" + (" |" if explain else ""))
    if note:
        lines.append(f"\n{note}")
    return dg.MetadataValue.md("\n".join(lines))


#: What each plan category means, from the verification *status* it comes from.
CATEGORY_MEANINGS = {
    "valid": "status deliverable: the mailbox accepts mail",
    "invalid": "status undeliverable: no such mailbox, or no mail server for the domain",
    "disposable": "a throwaway-inbox service (deliverable today, gone tomorrow)",
    "catch_all": "the domain accepts every address, so this one cannot be confirmed",
    "unknown": "status unknown: no answer could be had (timeouts, greylisting); never acted on",
    "risky": "status risky, or a role address (info@, sales@) that reaches a team",
}
ACTION_MEANINGS = {
    "keep": "nothing changes",
    "unsubscribe": "unsubscribed from the list(s) below; the contact stays in the account",
    "delete": "removed from the account after a backup (cannot be undone in ActiveCampaign)",
}
STATUS_VS_CATEGORY = (
    "*status* is the verification's verdict on the address (deliverable / undeliverable / "
    "risky / unknown, in `verifications`); *category* is what the plan acts on (valid / invalid / "
    "disposable / catch_all / unknown / risky), derived from the status and the address's flags."
)

#: The plan guard's figures (hygiene.assessment), in words a reviewer can check.
GUARD_FIGURES = {
    "verified_addresses": "distinct email addresses verified for this segment",
    "unknown_share": "share of those addresses with status unknown (no yes or no from the server)",
    "invalid_share": "share of contacts with an email whose category is invalid",
    "infrastructure_invalid_share": (
        "of the invalid ones, the share invalid because of the domain or the network (domain not "
        "found, no mail server, DNS or connection failures) rather than a mailbox the server "
        "refused: high values with many invalids point at a broken resolver or a blocked port 25"
    ),
}


def guard_limits(thresholds: Any) -> dict[str, str]:
    """When each figure stops the plan, from `hygiene.assessment.AssessmentThresholds`."""
    t = thresholds
    return {
        "unknown_share": f"over {t.max_unknown_share:.0%} (judged on {t.min_addresses}+ addresses)",
        "invalid_share": (
            f"over {t.max_invalid_share:.0%} and infrastructure_invalid_share over "
            f"{t.infrastructure_share:.0%}"
        ),
        "infrastructure_invalid_share": (
            f"over {t.infrastructure_share:.0%} and invalid_share over {t.max_invalid_share:.0%}"
        ),
    }


def unsubscribe_scope(contacts: int, memberships: int, segment: str) -> dg.MetadataValue:
    """Contacts unsubscribed vs list memberships touched, side by side and explained."""
    scope = (
        "only the segment's own list"
        if segment.startswith("list-")
        else "every list the contact is actively subscribed to"
    )
    return dg.MetadataValue.md(
        "\n".join(
            [
                "| | count | meaning |",
                "|---|---:|---|",
                f"| contacts unsubscribed | {contacts:,} | contacts whose action is "
                "unsubscribe (one already off every list in scope counts here but loses no "
                "membership) |",
                f"| list memberships touched | {memberships:,} | (contact, list) subscriptions "
                f"those contacts lose: {scope}; a contact on 3 lists counts 3 here, 1 above |",
            ]
        )
    )


def guard_table(
    figures: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], limits: Mapping[str, str]
) -> dg.MetadataValue:
    """The plan guard as a table: each figure, its value, what it means, when it stops the plan;
    then the findings (or that there are none)."""
    lines = ["| figure | value | meaning | the guard stops the plan when |", "|---|---:|---|---|"]
    for name, value in figures.items():
        shown = f"{value:.1%}" if isinstance(value, float) else f"{value:,}"
        meaning = GUARD_FIGURES.get(name, "")
        lines.append(f"| {name} | {shown} | {meaning} | {limits.get(name, '')} |")
    if findings:
        lines.append("\n**Findings** (the apply step refuses this plan):")
        lines += [f"- `{f.get('code', '')}`: {f.get('message', '')}" for f in findings]
    else:
        lines.append("\nNo finding: the plan looks like a dirty list, not a verifier failure.")
    return dg.MetadataValue.md("\n".join(lines))


def value_counts(frame: pl.DataFrame, column: str, keys: tuple[str, ...]) -> dict[str, int]:
    """Counts of `column` for every expected key (zeros included, so every run shows them all)."""
    counts = dict.fromkeys(keys, 0)
    if frame.height:
        for key, count in frame.group_by(column).len().iter_rows():
            counts[str(key)] = int(count)
    return counts
