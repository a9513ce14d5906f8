"""Teacher labels of seeds whose label is known: they measured the teacher (teacher_labels.py) and are not new data."""

from __future__ import annotations

import polars as pl

from synth_assets.filters.step import FilterInputs, FilterStep, Verdict


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    # `teacher_correct` is set before any filter runs: the confidence threshold is chosen on those rows
    measuring = pl.col("teacher_correct").is_not_null()
    return Verdict(df, pl.when(measuring).then(pl.lit("seed_already_labelled")), ~measuring)


SEED_LABELLED = FilterStep(name="seed_labelled", run=_run, reasons=("seed_already_labelled",))
