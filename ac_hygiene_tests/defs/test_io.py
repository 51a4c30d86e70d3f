"""The Parquet IO manager: exact types back, one file per partition, dicts of partitions."""

import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ac_hygiene.defs.io import ParquetIOManager
from ac_hygiene.defs.partitions import MONTHS, month_segment_key, month_segment_partitions
from ac_hygiene.schemas import Contacts, empty_frame

PARTS = month_segment_partitions("io")
with warnings.catch_warnings():  # beta, and deliberately used by the report
    warnings.simplefilter("ignore", dg.BetaWarning)
    BY_MONTH = dg.MultiToSingleDimensionPartitionMapping("month")


def contacts_frame(first_id: int) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "contact_id": [first_id, first_id + 1],
            "email": ["a@example.com", None],
            "first_name": ["A", None],
            "last_name": [None, "B"],
            "created_at": [datetime(2026, 1, 2, tzinfo=UTC), None],
            "updated_at": [datetime(2026, 3, 4, 5, 6, tzinfo=UTC), None],
            "bounced_hard": [False, True],
            "active_list_ids": [[1, 2], []],
            "unsubscribed_list_ids": [[], [3]],
            "tag_ids": [[], [7]],
        },
        schema=empty_frame(Contacts).schema,
    )
    return Contacts.validate(frame)


@dg.asset(key=["io", "table"], partitions_def=PARTS)
def table(context: dg.AssetExecutionContext) -> pl.DataFrame:
    segment = context.partition_key.keys_by_dimension["segment"]
    return contacts_frame(100 if segment == "all" else 200)


@dg.asset(
    key=["io", "monthly"],
    partitions_def=MONTHS,
    ins={
        "parts": dg.AssetIn(
            key=["io", "table"],
            partition_mapping=BY_MONTH,
            metadata={"allow_missing_partitions": True},
        )
    },
)
def monthly(parts: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return pl.DataFrame(
        {"key": sorted(map(str, parts)), "rows": [parts[k].height for k in sorted(parts)]}
    )


@dg.asset(key=["io", "whole"])
def whole() -> pl.DataFrame:
    return contacts_frame(1)


def test_partitions_round_trip_with_exact_types(tmp_path: Path) -> None:
    io = ParquetIOManager(base_path=str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("io__segments", ["all", "list-3", "tag-9"])
        for segment in ("all", "list-3"):
            result = dg.materialize(
                [table],
                instance=instance,
                resources={"io_manager": io},
                partition_key=month_segment_key("2026-05", segment),
            )
            assert result.success
        # tag-9 is registered but never run: the monthly asset reads the two tables that exist.
        result = dg.materialize(
            [table, monthly],
            selection=[monthly],
            instance=instance,
            resources={"io_manager": io},
            partition_key="2026-05",
        )
        assert result.success
        report = result.output_for_node("io__monthly")
        assert report.to_dicts() == [
            {"key": "2026-05|all", "rows": 2},
            {"key": "2026-05|list-3", "rows": 2},
        ]
        materialization = result.asset_materializations_for_node("io__monthly")[0]
        assert materialization.metadata["dagster/row_count"].value == 2

    path = tmp_path / "io" / "table" / "2026-05" / "list-3.parquet"
    back = pl.read_parquet(path)
    assert back.equals(contacts_frame(200))
    assert back.schema == contacts_frame(200).schema
    assert not list(tmp_path.rglob("*.tmp"))


def test_unpartitioned_table_metadata(tmp_path: Path) -> None:
    result = dg.materialize(
        [whole], resources={"io_manager": ParquetIOManager(base_path=str(tmp_path))}
    )
    (materialization,) = result.asset_materializations_for_node("io__whole")
    schema = materialization.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == list(contacts_frame(1).columns)
    assert materialization.metadata["dagster/row_count"].value == 2
    assert (tmp_path / "io" / "whole.parquet").is_file()


def test_refuses_what_is_not_a_polars_frame(tmp_path: Path) -> None:
    @dg.asset(key=["io", "wrong"])
    def wrong() -> dict:
        return {"not": "a frame"}

    with pytest.raises(TypeError, match="stores Polars DataFrames"):
        dg.materialize([wrong], resources={"io_manager": ParquetIOManager(base_path=str(tmp_path))})
