"""Before any filter runs: the teacher's labels recalibrated, and measured on the seeds whose label is known.

The label rows and the re-labelled texts get `teacher_label` from their (optionally prior-corrected)
label scores; a label row of a labelled seed gets `teacher_correct`, and those rows choose the
confidence threshold (filters/confidence.py). A round that labels only pool rows is measured on
round 0's label rows (`reference`), which are dropped again once the threshold is chosen.
"""

from __future__ import annotations

import polars as pl

from synth_assets.filters.confidence import ConfidenceReport, choose_threshold, label_priors, recalibrate, use_calibration
from synth_assets.filters.rows import checked_rows, label_rows
from synth_assets.spec import PipelineSpec


def _teacher_labels(expansions: pl.DataFrame, reference: pl.DataFrame | None, labelled: pl.DataFrame,
                    spec: PipelineSpec) -> tuple[pl.DataFrame, bool]:
    """Rows with `teacher_label` (and label rows' target) from recalibrated label scores, `_reference` marking reference rows.

    Label rows and checked rows share one prior, so a hard negative's label is read like a pool label.
    """
    is_label = label_rows()
    checked = checked_rows(spec, expansions.columns)
    rows = expansions.with_columns(pl.lit(False).alias("_reference"))
    if reference is not None:
        rows = pl.concat([rows, reference.filter(is_label).select(expansions.columns).with_columns(pl.lit(True).alias("_reference"))])
    label_part = rows.filter(is_label)
    calibrate = use_calibration(label_part, labelled, spec)
    priors = label_priors(label_part, spec.labels)
    df = pl.concat([
        rows.filter(~is_label & ~checked).with_columns(pl.lit(None, pl.String).alias("teacher_label")),
        recalibrate(rows.filter(checked), spec.labels, calibrate, priors, column="teacher_label"),
        recalibrate(label_part, spec.labels, calibrate, priors).with_columns(pl.col("target").alias("teacher_label")),
    ])
    return df, calibrate


def measured_labels(expansions: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec,
                    reference: pl.DataFrame | None = None) -> tuple[pl.DataFrame, ConfidenceReport]:
    """The expansions with `teacher_label` and `teacher_correct`, and the threshold their labelled seeds justify."""
    labelled = seeds.filter(pl.col("target").is_not_null()).select("seed_id", pl.col("target").alias("_seed_target"))
    df, calibrate = _teacher_labels(expansions, reference, labelled, spec)
    df = df.join(labelled, on="seed_id", how="left")
    # teacher labels of seeds whose label is known measure the teacher; they are not new data
    df = df.with_columns(
        pl.when(label_rows() & pl.col("_seed_target").is_not_null())
        .then(pl.col("target") == pl.col("_seed_target"))
        .otherwise(None)
        .alias("teacher_correct")
    )
    report = choose_threshold(df.filter(pl.col("teacher_correct").is_not_null()).rename({"teacher_correct": "correct"}), spec, calibrate)
    return df.filter(~pl.col("_reference")).drop("_reference", "_seed_target"), report
