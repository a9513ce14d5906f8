"""The teacher's re-label of a new text (verify_label, strategies/label_check.py) must give the row's own target."""

from __future__ import annotations

import polars as pl

from synth_assets.filters.rows import checked_rows
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    reason = (
        pl.when(~checked_rows(inputs.spec, df.columns)).then(pl.lit(None, pl.String))
        .when(pl.col("teacher_label").is_null()).then(pl.lit("label_check_failed"))  # no scores: the check call failed
        .when(pl.col("teacher_label") != pl.col("target")).then(pl.lit("teacher_disagrees"))
    )
    return Verdict(df, reason, reason.is_null())


LABEL_CHECK = FilterStep(name="label_check", run=_run, reasons=("label_check_failed", "teacher_disagrees"))
