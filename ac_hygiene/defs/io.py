"""Tables on disk: Polars frames as Parquet files, through Dagster's `UPathIOManager`.

dagster-polars does not work with Polars 2, and a table store needs little: write a frame, read it
back with the same types (List columns and UTC datetimes included), find one file per partition.
`UPathIOManager` already maps partitions to paths (`<base>/<conn>/<asset>/<month>/<segment>.parquet`
for a `month|segment` key) and loads many upstream partitions as a dict, and `UPath` makes the same
code write to `s3://...` or any fsspec filesystem when the base path says so.

A crash mid-write must not leave a truncated table that a later run would load: on a local disk
the file is written beside its final name and renamed into place (atomic on POSIX).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import dagster as dg
import polars as pl
from dagster._core.storage.upath_io_manager import escape_dotdot_segments, is_dict_type
from upath import UPath

from ac_hygiene.defs.metadata import table_metadata
from ac_hygiene.defs.paths import tables_base_path

_LOCAL_PROTOCOLS = ("", "file", "local")


class PolarsParquetUPathIOManager(dg.UPathIOManager):
    """The IO manager proper; `ParquetIOManager` below is its configurable face."""

    extension = ".parquet"

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        # Local filesystems resolve `..`: never let a partition key climb out of the base path.
        return super().make_safe_partition_path(base_path, escape_dotdot_segments(partition))

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: the Parquet IO manager stores Polars "
                f"DataFrames, got {type(obj).__name__}"
            )
        if path.protocol in _LOCAL_PROTOCOLS:
            final = os.fspath(path.path)
            tmp = f"{final}.{uuid.uuid4().hex}.tmp"
            try:
                obj.write_parquet(tmp)
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            with path.open("wb") as handle:
                obj.write_parquet(handle)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        if path.protocol in _LOCAL_PROTOCOLS:
            return pl.read_parquet(os.fspath(path.path))
        with path.open("rb") as handle:
            return pl.read_parquet(handle)

    def load_input(self, context: dg.InputContext) -> Any:
        """As the base class, plus: an input marked `optional` that was never materialized (an
        unpartitioned one, or the single partition a partitioned one maps to) loads as None
        instead of failing (the report names segments when the account tables exist, and still
        reports without them; a segment is cut from the month's snapshot when there is one)."""
        optional = bool((context.definition_metadata or {}).get("optional"))
        if optional and not context.has_asset_partitions:
            path = self._get_path(context)
            if not path.exists():
                context.log.info(f"{context.asset_key.to_user_string()}: not materialized yet")
                return None
        if context.has_asset_partitions and not context.asset_partition_keys:
            # No upstream partition at all (no segment registered yet): an empty dict, where the
            # base class would hand a `dict` input None and fail its type check.
            return {} if is_dict_type(context.dagster_type.typing_type) else None
        if optional and context.has_asset_partitions:
            # One upstream partition (the month's account snapshot): None when it has no table.
            paths = self._get_paths_for_partitions(context)
            if len(paths) == 1 and not next(iter(paths.values())).exists():
                context.log.info(
                    f"{context.asset_key.to_user_string()} {next(iter(paths))}: not materialized"
                )
                return None
        return super().load_input(context)

    def load_partitions(self, context: dg.InputContext) -> pl.DataFrame | dict[str, pl.DataFrame]:
        """One partition as a frame; several (or any number, for a `dict` input) as a dict.

        Unlike the base class, a `dict` input always gets a dict (even of one partition), and with
        `allow_missing_partitions` the partitions that were never materialized (registered
        segments nobody ran this month) are skipped with one summary line instead of a warning
        each.
        """
        paths = self._get_paths_for_partitions(context)
        keys = list(context.asset_partition_keys)
        wants_dict = is_dict_type(context.dagster_type.typing_type)
        if len(keys) == 1 and not wants_dict:
            return self.load_from_path(context, paths[keys[0]])
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions"))
        frames: dict[str, pl.DataFrame] = {}
        missing = []
        for key in keys:
            path = paths[key]
            if allow_missing and not path.exists():
                missing.append(key)
                continue
            frames[key] = self.load_from_path(context, path)
        if missing:
            context.log.info(
                f"{context.asset_key.to_user_string()}: loaded {len(frames)} partition(s); "
                f"{len(missing)} registered partition(s) have no table (never run)"
            )
        return frames

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        return table_metadata(obj) if isinstance(obj, pl.DataFrame) else {}


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Parquet tables under `base_path` (default `$AC_HYGIENE_TABLES`, else `<data dir>/tables`).

    The base path may be any fsspec URL (`s3://bucket/prefix` with `s3fs` installed).
    """

    base_path: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> PolarsParquetUPathIOManager:
        return PolarsParquetUPathIOManager(base_path=UPath(self.base_path or tables_base_path()))
