"""Output validity: teacher errors, empty or out-of-bounds text, labels outside the label set."""

from __future__ import annotations

import polars as pl

from synth_assets.spec import PipelineSpec


def invalid_reason(df: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec) -> pl.Series:
    """Why each row is unusable as training data, or null when it is fine."""
    v = spec.filters.validity
    seed_len = seeds.select("seed_id", pl.col("input").str.len_chars().alias("_seed_len"))
    x = df.join(seed_len, on="seed_id", how="left").with_columns(pl.col("input").str.len_chars().alias("_len"))
    ratio = pl.col("_len") / pl.col("_seed_len")
    reason = (
        pl.when(pl.col("error").is_not_null()).then(pl.lit("teacher_error: ") + pl.col("error"))
        .when(pl.col("input").is_null() | (pl.col("input").str.strip_chars() == "")).then(pl.lit("invalid: empty text"))
        .when(pl.col("_len") < v.min_chars).then(pl.lit(f"invalid: shorter than {v.min_chars} chars"))
        .when(pl.col("_len") > v.max_chars).then(pl.lit(f"invalid: longer than {v.max_chars} chars"))
        .when((pl.col("strategy") != "label") & (ratio < v.min_length_ratio)).then(pl.lit(f"invalid: under {v.min_length_ratio}x the seed's length"))
        .when((pl.col("strategy") != "label") & (ratio > v.max_length_ratio)).then(pl.lit(f"invalid: over {v.max_length_ratio}x the seed's length"))
        .when(pl.col("target").is_null() | ~pl.col("target").is_in(spec.labels)).then(pl.lit("invalid: target not in labels"))
    )
    return x.select(reason.alias("invalid_reason")).to_series()
