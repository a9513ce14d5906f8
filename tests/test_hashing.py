"""frame_hash, the data version of every table: order-free, sensitive to any value, and bounded in memory for
large tables without moving the versions of the tables that warehouses already hold."""

from __future__ import annotations

import polars as pl
import pytest

from synth_assets import hashing
from synth_assets.hashing import frame_hash


def _table(n: int) -> pl.DataFrame:
    return pl.DataFrame({"row_id": [f"r{i}" for i in range(n)], "text": [f"line {i}\nsecond line, with a comma" for i in range(n)],
                         "score": [i / 7 for i in range(n)], "probs": [[0.25, 0.75] if i % 2 else None for i in range(n)]})


def test_a_small_table_keeps_the_hash_it_always_had() -> None:
    # the value a warehouse written before the large-table scheme holds for this table: it must not move
    assert frame_hash(_table(3)) == "84db339fa494aa7c3a52eb7b36d105d0"  # computed with the code before it


@pytest.mark.parametrize("rows_limit", [10_000, 5])  # the in-memory scheme, then the sliced one for the same table
def test_the_hash_ignores_row_and_column_order_and_sees_every_value(monkeypatch, rows_limit: int) -> None:
    monkeypatch.setattr(hashing, "FRAME_HASH_ROWS", rows_limit)
    monkeypatch.setattr(hashing, "_HASH_SLICE", 4)  # several slices
    df = _table(11)
    base = frame_hash(df)
    assert frame_hash(df.sample(fraction=1.0, shuffle=True, seed=3)) == base
    assert frame_hash(df.select(reversed(df.columns))) == base
    changed = df.with_columns(pl.when(pl.col("row_id") == "r9").then(pl.lit(9 / 7 + 1e-9)).otherwise(pl.col("score")).alias("score"))
    assert frame_hash(changed) != base
    assert frame_hash(df.head(10)) != base
    assert frame_hash(pl.concat([df, df.tail(1)])) != base  # a duplicated row counts


def test_the_two_schemes_never_give_the_same_hash(monkeypatch) -> None:
    df = _table(11)
    small = frame_hash(df)
    monkeypatch.setattr(hashing, "FRAME_HASH_ROWS", 5)
    assert frame_hash(df) != small
