"""A table as a stored table's rows with columns held beside them (TableBeside): written, hashed and previewed as
the one frame would be, a held column replacing the stored one, and a stored table that changed underneath refused."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from synth_assets.hashing import frame_hash
from synth_assets.storage import parquet
from synth_assets.storage.parquet import TableBeside, columns_of, read_table, scan_table, table_hash, write_parquet_atomic


def _stored(tmp_path: Path, n: int = 9) -> Path:
    df = pl.DataFrame({"row_id": [f"r{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                       "logprobs": [f"[{i}, {-i}]" for i in range(n)], "score": [i / 3 for i in range(n)]})
    return write_parquet_atomic(df, tmp_path / "stored.parquet")


def _held(stored: pl.DataFrame) -> pl.DataFrame:
    # a stage read row_id, text and score, replaced score and added a verdict
    return stored.select("row_id", "text", (pl.col("score") * 2).alias("score"), (pl.col("score") > 1).alias("kept"))


def test_the_table_is_both_sides_in_the_stored_order(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(parquet, "WRITE_SLICE_ROWS", 4)  # several slices
    path = _stored(tmp_path)
    stored = read_table(path)
    columns = ("row_id", "text", "logprobs", "score", "kept")
    table = TableBeside(scan_table(path), _held(stored), columns)
    expected = stored.with_columns((pl.col("score") * 2).alias("score"), (pl.col("score") > 1).alias("kept")).select(columns)
    out = read_table(write_parquet_atomic(table, tmp_path / "out.parquet"))
    assert out.equals(expected)
    assert table_hash(table) == frame_hash(expected) and table.head(2).equals(expected.head(2))
    assert columns_of(table, "logprobs", "kept").equals(expected.select("logprobs", "kept"))
    assert dict(table.schema) == dict(expected.schema)


def test_a_stored_table_replaced_underneath_is_refused(tmp_path: Path) -> None:
    path = _stored(tmp_path)
    table = TableBeside(scan_table(path), _held(read_table(path)), ("row_id", "text", "logprobs", "score", "kept"))
    reordered = read_table(path).reverse()
    write_parquet_atomic(reordered, path)  # another run rewrote it with its rows in another order
    with pytest.raises(RuntimeError, match="the stored table changed"):
        write_parquet_atomic(table, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
