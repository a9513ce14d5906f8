"""A table spilled to Parquet parts while it is built (Spill, TableParts): written, previewed and hashed as the one
frame of its rows would be, and its temp folder gone once the table is."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pytest

from synth_assets import hashing
from synth_assets.storage.outputs import table_output
from synth_assets.storage.parquet import Spill, columns_of, read_table, table_hash, write_parquet_atomic


def _frame(n: int, offset: int = 0) -> pl.DataFrame:
    return pl.DataFrame({"row_id": [f"r{i}" for i in range(offset, offset + n)],
                         "strategy": ["b" if i % 3 else "a" for i in range(offset, offset + n)],
                         "text": [f"text {i}, with a comma\nand a line" for i in range(offset, offset + n)],
                         "probs": [[0.5, 0.5] if i % 2 else None for i in range(offset, offset + n)]})


def _spilled(parts: list[pl.DataFrame]):
    spill = Spill()
    paths = [spill.add(part) for part in parts]
    # by strategy, then part: the order a stage that spills slices of seeds hands its rows over in
    pieces = [(pl.scan_parquet(path).filter(pl.col("strategy") == name), part.filter(pl.col("strategy") == name).height)
              for name in ("a", "b") for path, part in zip(paths, parts)]
    return spill.table(pieces)


@pytest.mark.parametrize("rows_limit", [10_000, 5])  # the in-memory hash scheme, then the sliced one
def test_parts_write_preview_and_hash_as_the_frame_they_stack(tmp_path: Path, monkeypatch, rows_limit: int) -> None:
    monkeypatch.setattr(hashing, "FRAME_HASH_ROWS", rows_limit)
    monkeypatch.setattr(hashing, "_HASH_SLICE", 4)
    parts = [_frame(7), _frame(6, offset=7), _frame(5, offset=13)]
    whole = pl.concat(parts)
    expected = pl.concat([whole.filter(pl.col("strategy") == "a"), whole.filter(pl.col("strategy") == "b")])
    table = _spilled(parts)
    assert table.height == 18 and table.head(3).equals(expected.head(3))
    assert table_hash(table) == hashing.frame_hash(whole)
    assert table_output(table).data_version.value == hashing.frame_hash(whole)
    assert columns_of(table, "strategy")["strategy"].value_counts().sort("strategy")["count"].to_list() == [6, 12]
    path = write_parquet_atomic(table, tmp_path / "t.parquet")
    assert read_table(path).equals(expected)
    changed = _spilled([parts[0], parts[1], parts[2].with_columns(pl.lit("x").alias("text"))])
    assert table_hash(changed) != table_hash(table)


def test_the_temp_folder_goes_with_the_table() -> None:
    table = _spilled([_frame(4), _frame(4, offset=4)])
    folder = Path(table.folder.name)
    assert len(list(folder.glob("part-*.parquet"))) == 2
    del table
    gc.collect()
    assert not folder.exists()


def test_parts_of_another_shape_are_refused() -> None:
    spill = Spill()
    spill.add(_frame(3))
    with pytest.raises(TypeError, match="spilled parts disagree"):
        spill.add(_frame(3).drop("probs"))
