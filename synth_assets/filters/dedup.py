"""Exact dedup on normalised text, against the seeds and against earlier expansions."""

from __future__ import annotations

import polars as pl

_NORM = pl.col("input").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def exact_duplicates(df: pl.DataFrame, seeds: pl.DataFrame) -> pl.Series:
    """`dup_of`: the seed_id or row_id this row repeats, null for the first occurrence of a text.

    Rows are ranked by (strategy, seed_id, sample_idx, row_id) so the kept copy is the same in every run.
    """
    seed_norm = seeds.select(_NORM.alias("_norm"), pl.col("seed_id").alias("_seed_dup")).unique("_norm", keep="first")
    x = (
        df.with_row_index("_pos")
        .with_columns(_NORM.alias("_norm"))
        .join(seed_norm, on="_norm", how="left")
        .sort("strategy", "seed_id", "sample_idx", "row_id")
        .with_columns(pl.col("row_id").first().over("_norm").alias("_first"))
        .with_columns(
            pl.when(pl.col("_norm").is_null()).then(None)
            .when(pl.col("_seed_dup").is_not_null()).then(pl.col("_seed_dup"))
            .when(pl.col("_first") != pl.col("row_id")).then(pl.col("_first"))
            .otherwise(None)
            .alias("dup_of")
        )
        .sort("_pos")
    )
    return x["dup_of"]
