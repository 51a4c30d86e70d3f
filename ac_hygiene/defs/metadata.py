"""Materialization metadata a data team reads in the UI: sizes, schemas, previews, counts.

`dagster/row_count` and `dagster/column_schema` are the keys the UI knows (row count on the asset
page, the Columns tab); previews and count tables are Markdown so they render in the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl

PREVIEW_ROWS = 10


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


def markdown_table(frame: pl.DataFrame, limit: int = PREVIEW_ROWS) -> str:
    """The first `limit` rows as a Markdown table (no shape or dtype lines, unlike `str(frame)`)."""
    if frame.width == 0:
        return "_(no columns)_"
    head = frame.head(limit)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + "---|" * head.width,
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()),
    ]
    if frame.height > limit:
        lines.append(f"\n_{limit} of {frame.height:,} rows_")
    elif frame.height == 0:
        lines.append("\n_(no rows)_")
    return "\n".join(lines)


def preview(frame: pl.DataFrame, limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, limit))


def counts_table(counts: Mapping[str, int], header: tuple[str, str]) -> dg.MetadataValue:
    """A two-column Markdown table (e.g. status -> contacts) with a share column."""
    total = sum(counts.values())
    lines = [f"| {header[0]} | {header[1]} | share |", "|---|---:|---:|"]
    for name, count in counts.items():
        share = f"{count / total:.1%}" if total else "-"
        lines.append(f"| {name} | {count:,} | {share} |")
    lines.append(f"| **total** | **{total:,}** | |")
    return dg.MetadataValue.md("\n".join(lines))


def value_counts(frame: pl.DataFrame, column: str, keys: tuple[str, ...]) -> dict[str, int]:
    """Counts of `column` for every expected key (zeros included, so every run shows them all)."""
    counts = dict.fromkeys(keys, 0)
    if frame.height:
        for key, count in frame.group_by(column).len().iter_rows():
            counts[str(key)] = int(count)
    return counts
