"""Dagster IO manager: polars frames in and out of the Parquet warehouse, views kept in DuckDB.

An input declared lazy (`lazy_input`, AssetIn metadata {"lazy": True}) arrives as a LazyFrame over
the file, so a stage that needs a few columns or rows of a million-row table reads only those.
"""

from __future__ import annotations

import polars as pl
from dagster import AssetIn, AssetKey, ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from synth_assets.storage.catalog import refresh_catalog
from synth_assets.storage.location import Location, warehouse_location
from synth_assets.storage.parquet import (Table, TableBeside, TableParts, read_table, scan_table, table_path,
                                          write_parquet_atomic)
from synth_assets.storage.table_files import FILE_FACTS, TABLE_PATH, file_facts

LAZY = "lazy"


def lazy_input(key: AssetKey) -> AssetIn:
    """An asset input that arrives as a pl.LazyFrame scanning the table, not the whole table in memory."""
    return AssetIn(key=key, metadata={LAZY: True})


class WarehouseIOManager(ConfigurableIOManager):
    """Each asset's table at warehouse/<pipeline>/<table>.parquet, registered as view <pipeline>.<table>."""

    root: str  # a folder or a URL (s3://bucket/prefix)

    @property
    def _root(self) -> Location:
        return warehouse_location(self.root)

    def _path(self, context: InputContext | OutputContext) -> Location:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return table_path(self._root, list(context.asset_key.path), partition)

    def handle_output(self, context: OutputContext, obj: Table) -> None:
        if not isinstance(obj, (pl.DataFrame, TableParts, TableBeside)):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        path = write_parquet_atomic(obj, self._path(context))
        # size and mtime let staleness tell an untouched file from one changed outside synth without reading it
        context.add_output_metadata({TABLE_PATH: str(path), FILE_FACTS: MetadataValue.json(file_facts(path))})
        refresh_catalog(self._root)

    def load_input(self, context: InputContext) -> pl.DataFrame | pl.LazyFrame:
        lazy = bool((context.definition_metadata or {}).get(LAZY))
        read = scan_table if lazy else read_table
        if context.has_asset_partitions and len(context.asset_partition_keys) != 1:
            # a whole-table consumer of a sharded table: every shard, in partition order
            key = list(context.asset_key.path)
            parts = [read(table_path(self._root, key, k)) for k in sorted(context.asset_partition_keys)]
            if not parts:
                return pl.LazyFrame() if lazy else pl.DataFrame()
            return pl.concat(parts, how="diagonal_relaxed")
        return read(self._path(context))
