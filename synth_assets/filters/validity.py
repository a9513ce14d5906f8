"""Output validity: teacher errors, empty or out-of-bounds generated text, targets outside the task's answer space."""

from __future__ import annotations

import polars as pl

from synth_assets.answers import extract_number
from synth_assets.filters.rows import label_rows
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict
from synth_assets.spec import PipelineSpec


def invalid_reason(df: pl.DataFrame, seeds: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec) -> pl.Series:
    """Why each row is unusable as training data, or null when it is fine.

    Length bounds judge text the teacher wrote. A row whose input is its seed's own text (a label
    row of a pool review, the problem an answer_augment row solves) holds the user's text, which
    the seed sources already bound (`max_input_chars`): a one-word review is real input.
    Seeds are compared by the length and hash of their text, so no seed text is held.
    """
    v = spec.filters.validity
    seed_text = (seeds.lazy().select("seed_id", pl.col("input").hash().alias("_seed_hash"),
                                     pl.col("input").str.len_chars().alias("_seed_len"))
                 .collect(engine="streaming"))
    # the row's text as its length, hash and emptiness before the join, so the join copies no text
    x = (df.select("seed_id", "strategy", "target", "error", pl.col("input").str.len_chars().alias("_len"),
                   pl.col("input").hash().alias("_hash"),
                   (~pl.col("input").str.contains(r"\S")).fill_null(True).alias("_empty"))
         .join(seed_text, on="seed_id", how="left", maintain_order="left"))
    ratio = pl.col("_len") / pl.col("_seed_len")
    generated = ~label_rows() & (pl.col("_hash") != pl.col("_seed_hash")).fill_null(True)
    reason = (
        pl.when(pl.col("error").is_not_null()).then(pl.lit("teacher_error: ") + pl.col("error"))
        .when(pl.col("_empty")).then(pl.lit("invalid: empty text"))
        .when(generated & (pl.col("_len") < v.min_chars)).then(pl.lit(f"invalid: shorter than {v.min_chars} chars"))
        .when(generated & (pl.col("_len") > v.max_chars)).then(pl.lit(f"invalid: longer than {v.max_chars} chars"))
        .when(generated & (ratio < v.min_length_ratio)).then(pl.lit(f"invalid: under {v.min_length_ratio}x the seed's length"))
        .when(generated & (ratio > v.max_length_ratio)).then(pl.lit(f"invalid: over {v.max_length_ratio}x the seed's length"))
        .when(_bad_target(spec)).then(pl.lit("invalid: target not in labels" if spec.task == "classification"
                                            else "invalid: target holds no numeric answer"))
    )
    return x.select(reason.alias("invalid_reason")).to_series()


def _bad_target(spec: PipelineSpec) -> pl.Expr:
    """A label outside the label set, or (math) an answer with no number in it."""
    if spec.task == "classification":
        return pl.col("target").is_null() | ~pl.col("target").is_in(spec.labels)
    answer = pl.col("target").map_elements(extract_number, return_dtype=pl.String)
    return pl.col("target").is_null() | answer.is_null()


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    df = df.with_columns(invalid_reason(df, inputs.seeds, inputs.spec))
    return Verdict(df, pl.col("invalid_reason"), pl.col("invalid_reason").is_null())


VALIDITY = FilterStep(name="validity", section="validity", run=_run, reasons=("teacher_error", "invalid"),
                      scratch=("invalid_reason",))
