"""Atomic Parquet IO: a reader never sees a half-written table, a crash never leaves one.

On a local folder: a temp file, fsync, rename. On an object store: the file is built in memory and
uploaded in one request, and an object becomes visible only once its upload completes, so the
key holds the old table or the new one. A temp key plus a copy would only upload it twice.

A table can also be handed over as rows in an order (TableInOrder): the rows are gathered into
that order a slice at a time as they are written, so sorting a million-row table never holds a
sorted copy of it beside the original. Or as parts spilled to local Parquet files while it was
built (TableParts): the parts are written out one at a time, so the table is never in memory whole.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

from synth_assets.hashing import frame_hash, slices_hash
from synth_assets.storage.location import Location, is_remote, put_object, source
from synth_assets.storage.temp_files import temp_file

# rows gathered and written at a time for a TableInOrder (one Parquet row group each)
WRITE_SLICE_ROWS = 100_000


@dataclass(frozen=True)
class TableInOrder:
    """A table as `df`'s rows taken in `order` (row positions): what is written, previewed and hashed."""

    df: pl.DataFrame
    order: pl.Series  # a permutation of range(df.height)

    @property
    def height(self) -> int:
        return self.df.height

    def head(self, rows: int) -> pl.DataFrame:
        return self.df[self.order.head(rows)]

    def slices(self, rows: int = WRITE_SLICE_ROWS):
        """The table a slice of rows at a time, in order."""
        for lo in range(0, self.df.height, rows):
            yield self.df[self.order.slice(lo, rows)]


@dataclass(frozen=True)
class TableParts:
    """A table as `pieces`, lazy reads of Parquet parts in a local temp folder, stacked in order (see Spill)."""

    pieces: tuple[pl.LazyFrame, ...]
    schema: pl.Schema
    height: int
    # the folder goes when the last reference to the table does (after the IO manager has written it)
    folder: tempfile.TemporaryDirectory = field(repr=False)

    def head(self, rows: int) -> pl.DataFrame:
        return self.scan().head(rows).collect()

    def slices(self) -> Iterator[pl.DataFrame]:
        """The table a piece at a time, in order."""
        for piece in self.pieces:
            yield piece.collect()

    def scan(self) -> pl.LazyFrame:
        """Every row, lazily: a reader collects the columns it needs."""
        return pl.concat(self.pieces) if self.pieces else pl.LazyFrame(schema=self.schema)


class Spill:
    """Finished slices of a table being built, each written to a Parquet part at once and dropped from memory.

    The parts go to a temp folder under $TMPDIR (local disk, whatever the warehouse is), which must hold the
    table zstd-compressed; `table` hands them over as a TableParts, rows taken from the parts in any order.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="synth-spill-")
        self.parts: list[Path] = []
        self.schema: pl.Schema | None = None

    def add(self, df: pl.DataFrame) -> Path:
        """Write one finished slice as the next part; its path."""
        if self.schema is not None and df.schema != self.schema:
            raise TypeError(f"spilled parts disagree: {dict(df.schema)} after {dict(self.schema)}")
        self.schema = df.schema
        path = Path(self._folder.name) / f"part-{len(self.parts):05d}.parquet"
        df.write_parquet(path, compression="zstd", statistics=True)
        self.parts.append(path)
        return path

    def table(self, pieces: list[tuple[pl.LazyFrame, int]]) -> TableParts:
        """The table as `pieces` (a lazy read of parts, and its row count) in order."""
        if self.schema is None:
            raise ValueError("nothing was spilled")
        return TableParts(tuple(p for p, rows in pieces if rows), self.schema, sum(rows for _, rows in pieces), self._folder)


Table = pl.DataFrame | TableInOrder | TableParts


def columns_of(table: Table, *columns: str) -> pl.DataFrame:
    """`columns` of every row of the table in any order, for sums and counts."""
    if isinstance(table, TableParts):
        return table.scan().select(columns).collect()
    return (table.df if isinstance(table, TableInOrder) else table).select(columns)


def table_hash(table: Table) -> str:
    """The table's content hash (hashing.frame_hash), the same whichever way it is held."""
    if isinstance(table, pl.DataFrame):
        return frame_hash(table)
    if isinstance(table, TableInOrder):  # the hash does not depend on row order
        return frame_hash(table.df)
    return slices_hash(table.schema, table.height, table.slices())


def in_order(df: pl.DataFrame, *by: str) -> TableInOrder:
    """`df` sorted by the columns `by` (stable), without materialising the sorted copy."""
    return TableInOrder(df, df.select(pl.arg_sort_by(*by, maintain_order=True)).to_series())


def table_path(root: Location, key: list[str], partition: str | None = None) -> Location:
    """warehouse/<pipeline>/<table>.parquet, or .../<table>/<partition>.parquet when partitioned."""
    *folders, name = key
    base = root.joinpath(*folders)
    return base / name / f"{partition}.parquet" if partition else base / f"{name}.parquet"


def _write(table: Table, fh: BinaryIO) -> None:
    if isinstance(table, pl.DataFrame):
        table.write_parquet(fh, compression="zstd", statistics=True)
        return
    import pyarrow.parquet as pq

    writer = None
    for part in table.slices():
        arrow = part.to_arrow(compat_level=pl.CompatLevel.oldest())  # plain strings: every Parquet reader takes them
        if writer is None:
            writer = pq.ParquetWriter(fh, arrow.schema, compression="zstd", write_statistics=True)
        writer.write_table(arrow)
    if writer is None:  # no rows: the schema alone
        pl.DataFrame(schema=table.schema if isinstance(table, TableParts) else table.df.schema).write_parquet(
            fh, compression="zstd", statistics=True)
    else:
        writer.close()


def write_parquet_atomic(table: Table, path: Location) -> Location:
    """Write to a temp file in the same folder, fsync, then rename over the target (mode from the umask)."""
    if is_remote(path):
        buf = io.BytesIO()
        _write(table, buf)
        put_object(path, buf.getvalue())
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            _write(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _existing(path: Location) -> Location:
    if not path.exists():
        raise FileNotFoundError(f"table {path} does not exist yet: materialise its asset first")
    return path


def read_table(path: Location) -> pl.DataFrame:
    """Read a table written by write_parquet_atomic, naming the file when it is missing."""
    return pl.read_parquet(source(_existing(path)))


def scan_table(path: Location) -> pl.LazyFrame:
    """The table as a lazy scan: a reader collects only the columns and rows it asks for."""
    return pl.scan_parquet(source(_existing(path)))
