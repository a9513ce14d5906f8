"""Before any filter runs: the teacher's labels recalibrated, and measured on the seeds whose label is known.

The label rows and the re-labelled texts get `teacher_label` from their (optionally prior-corrected)
label scores; a label row of a labelled seed gets `teacher_correct`, and those rows choose the
confidence threshold (filters/confidence.py), or with `confidence.mode: weight` the precision curve
behind each teacher label's `confidence_weight`. A round that labels only pool rows is measured on
round 0's label rows (`reference`), which are dropped again once the threshold is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from synth_assets.filters.confidence import (
    ConfidenceReport,
    choose_threshold,
    label_priors,
    precision_curve,
    recalibrate,
    use_calibration,
)
from synth_assets.filters.rows import checked_rows, label_rows
from synth_assets.filters.step import attach
from synth_assets.spec import PipelineSpec


@dataclass(frozen=True)
class Calibration:
    """How a run reads the teacher's label scores: whether its label prior is removed, and that prior."""

    calibrate: bool
    priors: dict[str, float]

    @property
    def correction(self) -> dict[str, float] | None:
        """What to subtract from each label's log-score (confidence.teacher_probs): the prior, when calibrating."""
        return self.priors if self.calibrate else None


def _labelled(seeds: pl.DataFrame) -> pl.DataFrame:
    return seeds.filter(pl.col("target").is_not_null()).select("seed_id", pl.col("target").alias("_seed_target"))


# the columns measuring the teacher reads: the label scores and what picks the rows; the rest of the table is never copied
_LABEL_COLUMNS = ("row_id", "seed_id", "strategy", "round", "target", "confidence", "label_scores")


def _narrow(rows: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    names = rows.collect_schema().names()
    return rows.lazy().select(c for c in _LABEL_COLUMNS if c in names).collect()


def _with_reference(expansions: pl.DataFrame, reference: pl.DataFrame | pl.LazyFrame | None) -> pl.DataFrame:
    """The round's rows and, `_reference` true, the reference label rows that measure the teacher with them."""
    rows = _narrow(expansions).with_columns(pl.lit(False).alias("_reference"))
    if reference is None:
        return rows
    extra = _narrow(reference.lazy().filter(label_rows())).select(rows.columns[:-1]).with_columns(pl.lit(True).alias("_reference"))
    return pl.concat([rows, extra])


def _calibration(rows: pl.DataFrame, labelled: pl.DataFrame, spec: PipelineSpec) -> Calibration:
    label_part = rows.filter(label_rows())
    return Calibration(use_calibration(label_part, labelled, spec), label_priors(label_part, spec.labels))


def teacher_calibration(expansions: pl.DataFrame | pl.LazyFrame, seeds: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec,
                        reference: pl.DataFrame | pl.LazyFrame | None = None) -> Calibration:
    """The calibration measured_labels reads these expansions with, so a soft-label student learns the scores the filters judged."""
    return _calibration(_with_reference(expansions, reference), _labelled(seeds.lazy()).collect(), spec)


def _teacher_labels(expansions: pl.DataFrame, reference: pl.DataFrame | pl.LazyFrame | None, labelled: pl.DataFrame,
                    spec: PipelineSpec) -> tuple[pl.DataFrame, bool]:
    """Rows with `teacher_label` (and label rows' target) from recalibrated label scores, `_reference` marking reference rows.

    Label rows and checked rows share one prior, so a hard negative's label is read like a pool label.
    """
    is_label = label_rows()
    checked = checked_rows(spec, expansions.columns)
    rows = _with_reference(expansions, reference)
    cal = _calibration(rows, labelled, spec)
    df = pl.concat([
        rows.filter(~is_label & ~checked).with_columns(pl.lit(None, pl.String).alias("teacher_label")),
        recalibrate(rows.filter(checked), spec.labels, cal.calibrate, cal.priors, column="teacher_label"),
        recalibrate(rows.filter(is_label), spec.labels, cal.calibrate, cal.priors).with_columns(pl.col("target").alias("teacher_label")),
    ])
    return df, cal.calibrate


def _confidence_weights(df: pl.DataFrame, spec: PipelineSpec) -> pl.DataFrame:
    """`confidence_weight` of every teacher label: the precision the labelled seeds show at its margin."""
    curve = precision_curve(df.filter(pl.col("teacher_correct").is_not_null()).rename({"teacher_correct": "correct"}),
                            len(spec.labels))
    weights = pl.Series([None if m is None else curve.at(m) for m in df["confidence"]], dtype=pl.Float64)
    teacher_labelled = label_rows() | checked_rows(spec, df.columns)
    return df.with_columns(pl.when(teacher_labelled).then(weights).otherwise(None).alias("confidence_weight"))


def measured_labels(expansions: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec,
                    reference: pl.DataFrame | pl.LazyFrame | None = None) -> tuple[pl.DataFrame, ConfidenceReport]:
    """The expansions with `teacher_label` and `teacher_correct`, and the threshold their labelled seeds justify.

    The labels are worked out on the few columns they need, then hung on the expansions by row_id:
    label rows get their recalibrated `target` and `confidence`, re-labelled texts their `confidence`.
    """
    labelled = _labelled(seeds)
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
    if spec.filters.confidence.mode == "weight":
        df = _confidence_weights(df, spec)
    measured = [c for c in ("target", "confidence", "teacher_label", "teacher_correct", "confidence_weight") if c in df.columns]
    labels = df.filter(~pl.col("_reference")).select("row_id", *measured)
    replaced = [c for c in measured if c in expansions.columns]
    out = attach(expansions.drop(replaced), labels)
    return out.select(*expansions.columns, *[c for c in measured if c not in expansions.columns]), report
