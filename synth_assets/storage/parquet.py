"""Atomic Parquet IO: a reader never sees a half-written table, a crash never leaves one.

On a local folder: a temp file, fsync, rename. On an object store: the file is built in memory and
uploaded in one request, and an object becomes visible only once its upload completes, so the
key holds the old table or the new one. A temp key plus a copy would only upload it twice.

A table need not be in memory whole to be written: it can be handed over as parts spilled to local
Parquet files while it was built (TableParts), or as a stored table's rows with columns derived
from them held beside (TableBeside). Either is written a slice at a time, each slice one row group.
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

# rows of a TableBeside read back and written at a time (one Parquet row group each)
WRITE_SLICE_ROWS = 100_000


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


@dataclass(frozen=True)
class TableBeside:
    """A table as the rows of a stored one (`stored`, read lazily) with columns held in memory beside them.

    `held` has the stored table's rows in their order (`key` names each row in both); the table is
    `columns` of the two side by side, a held column replacing a stored one of its name. A stage
    that derives a few columns from a wide table holds only what it reads and adds, and the stored
    columns it leaves alone are read back a slice at a time as the table is written.
    """

    stored: pl.LazyFrame
    held: pl.DataFrame
    columns: tuple[str, ...]
    key: str = "row_id"

    @property
    def height(self) -> int:
        return self.held.height

    @property
    def schema(self) -> pl.Schema:
        stored = self.stored.collect_schema()
        return pl.Schema({c: self.held.schema[c] if c in self.held.columns else stored[c] for c in self.columns})

    def head(self, rows: int) -> pl.DataFrame:
        return next(self.slices(rows), pl.DataFrame(schema=self.schema)).head(rows)

    def slices(self, rows: int | None = None) -> Iterator[pl.DataFrame]:
        """The table a slice of rows at a time; fails if the stored table is no longer the one `held` was read from."""
        rows = rows or WRITE_SLICE_ROWS
        read = [c for c in self.columns if c not in self.held.columns]
        for lo in range(0, self.height, rows):
            held = self.held.slice(lo, rows)
            part = self.stored.select(self.key, *read).slice(lo, rows).collect()
            if not part[self.key].equals(held[self.key]):
                raise RuntimeError(f"the stored table changed while a table beside it was written (rows {lo}..{lo + rows} "
                                   f"differ in {self.key}): materialise it again")
            yield pl.concat([part.drop(self.key), held], how="horizontal").select(self.columns)


Table = pl.DataFrame | TableParts | TableBeside


def columns_of(table: Table, *columns: str) -> pl.DataFrame:
    """`columns` of every row of the table in any order, for sums and counts."""
    if isinstance(table, TableParts):
        return table.scan().select(columns).collect()
    if isinstance(table, TableBeside):
        if set(columns) <= set(table.held.columns):
            return table.held.select(columns)
        return pl.concat([part.select(columns) for part in table.slices()]) if table.height else table.head(0).select(columns)
    return table.select(columns)


def table_hash(table: Table) -> str:
    """The table's content hash (hashing.frame_hash), the same whichever way it is held."""
    if isinstance(table, pl.DataFrame):
        return frame_hash(table)
    return slices_hash(table.schema, table.height, table.slices())


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
        pl.DataFrame(schema=table.schema).write_parquet(fh, compression="zstd", statistics=True)
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
