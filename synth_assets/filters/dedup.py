"""Exact dedup on normalised text, against the seeds and against earlier expansions."""

from __future__ import annotations

import polars as pl

from synth_assets.strategies import STRATEGIES

_SEP = "\x1f"  # joins the normalised columns of a key; never in normalised text


def _norm(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _keyed_on_more_than_input(df: pl.DataFrame) -> list[str]:
    return [n for n in df["strategy"].unique().sort().to_list() if n in STRATEGIES and tuple(STRATEGIES[n].dedup_on) != ("input",)]


def input_keyed(df: pl.DataFrame) -> pl.Expr:
    """Rows whose new content is their input (most strategies), the only ones text dedups on `input` can judge."""
    return ~pl.col("strategy").is_in(_keyed_on_more_than_input(df))


def _key(df: pl.DataFrame) -> pl.Expr:
    """Each row's dedup key from its strategy's `dedup_on` columns (input alone for most strategies).

    Strategies that keep the seed's input (answer_augment, revthink, rationale) make new examples
    through their target or rationale, so those columns are part of the key.
    """
    key = _norm("input")
    for name in _keyed_on_more_than_input(df):
        columns = STRATEGIES[name].dedup_on
        key = pl.when(pl.col("strategy") == name).then(pl.concat_str([_norm(c) for c in columns], separator=_SEP)).otherwise(key)
    return key


def exact_duplicates(df: pl.DataFrame, seeds: pl.DataFrame) -> pl.Series:
    """`dup_of`: the seed_id or row_id this row repeats, null for the first occurrence of a text.

    Rows are ranked by (strategy, seed_id, sample_idx, row_id) so the kept copy is the same in every run.
    Only input-keyed rows can repeat a seed: a seed has no worked solution or rationale to compare.
    """
    seed_norm = seeds.select(_norm("input").alias("_norm"), pl.col("seed_id").alias("_seed_dup")).unique("_norm", keep="first")
    x = (
        df.with_row_index("_pos")
        .with_columns(_key(df).alias("_norm"))
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
