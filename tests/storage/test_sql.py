"""Names and paths with quotes in them reach DuckDB intact: the catalog works in any warehouse folder."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from synth_assets.storage.catalog import CATALOG_FILE, memory_catalog, refresh_catalog
from synth_assets.storage.parquet import write_parquet_atomic
from synth_assets.storage.query import read_only_catalog
from synth_assets.storage.sql import qualified, quote_ident, quote_literal

WAREHOUSE = 'wh "q" \'x\''
# a pipeline folder and a table file may carry quotes too: their views are named as the files are
PIPELINE, TABLE = 'o\'ne "two"', 'it\'s "t"'


def test_quotes_are_doubled_inside_their_own_kind_only() -> None:
    assert quote_ident(WAREHOUSE) == '"wh ""q"" \'x\'"'
    assert quote_literal(WAREHOUSE) == "'wh \"q\" ''x'''"
    assert quote_literal(Path("/a/it's")) == "'/a/it''s'"
    assert qualified('p"1', "t") == '"p""1"."t"'
    with duckdb.connect() as con:  # what DuckDB reads back is the text that went in
        row = con.execute(f"select {quote_literal(WAREHOUSE)} as {quote_ident(WAREHOUSE)}").pl().to_dicts()
    assert row == [{WAREHOUSE: WAREHOUSE}]


def test_catalog_of_a_warehouse_folder_with_quotes_in_its_name(tmp_path: Path) -> None:
    root = tmp_path / WAREHOUSE
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), root / "demo" / "t.parquet")
    write_parquet_atomic(pl.DataFrame({"y": [4]}), root / PIPELINE / f"{TABLE}.parquet")
    assert refresh_catalog(root)
    with duckdb.connect(str(root / CATALOG_FILE), read_only=True) as con:
        assert con.execute("select sum(x) from demo.t").fetchone()[0] == 6
        assert con.execute(f"select y from {qualified(PIPELINE, TABLE)}").fetchone()[0] == 4
    with memory_catalog(root) as con:
        assert con.execute("select count(*) from demo.t").fetchone()[0] == 3
    with read_only_catalog(root) as con:  # what `synth query` opens
        assert con.execute(f"select y from {qualified(PIPELINE, TABLE)}").fetchone()[0] == 4
