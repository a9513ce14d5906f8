"""Seeds are expanded a slice at a time (bounded memory for a million seeds): the table is the one a single pass gives."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from synth_assets.assets import expansions
from synth_assets.spec import load_spec

from pipeline_helpers import run_pipeline, table
from spec_helpers import write_spec


def _expansions(tmp_path: Path, monkeypatch, slice_rows: int, **overrides) -> pl.DataFrame:
    monkeypatch.setattr(expansions, "EXPAND_ROWS", slice_rows)
    spec = load_spec(write_spec(tmp_path, **overrides))
    assert run_pipeline(spec, tmp_path / "warehouse").success
    return table(tmp_path / "warehouse", spec, "expansions").drop("cache_hit", "latency_ms")


def test_slices_give_the_same_rows_in_the_same_order(tmp_path: Path, monkeypatch) -> None:
    whole = _expansions(tmp_path / "whole", monkeypatch, 1_000_000)
    sliced = _expansions(tmp_path / "sliced", monkeypatch, 7)  # the tiny spec's seeds in several slices
    assert whole.height > 14 and whole.equals(sliced)


def test_a_pool_sample_is_drawn_from_all_seeds_not_per_slice(tmp_path: Path, monkeypatch) -> None:
    strategies = [{"name": "label", "pool_rows": 3}, {"name": "rephrase", "verify_label": False}]
    whole = _expansions(tmp_path / "whole", monkeypatch, 1_000_000, strategies=strategies)
    sliced = _expansions(tmp_path / "sliced", monkeypatch, 5, strategies=strategies)
    assert whole.equals(sliced)
    labelled_pool = sliced.filter((pl.col("strategy") == "label") & pl.col("seed_id").is_in(
        pl.read_parquet(tmp_path / "sliced/warehouse/tiny/seeds.parquet").filter(pl.col("target").is_null())["seed_id"].implode()))
    assert labelled_pool.height == 3
