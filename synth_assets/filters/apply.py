"""Run every filter over the expansions and decide, per row, accepted or the first reason to reject."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import polars as pl

from synth_assets.filters.confidence import choose_threshold, recalibrate, use_calibration
from synth_assets.filters.dedup import exact_duplicates
from synth_assets.filters.validity import invalid_reason
from synth_assets.spec import PipelineSpec


def apply_filters(expansions: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec) -> tuple[pl.DataFrame, dict[str, Any]]:
    """`filtered`: the expansions with verdict columns, `accepted` and `reject_reason`; plus a report."""
    config_hash = spec.section_hash("filters")
    labelled = seeds.filter(pl.col("target").is_not_null()).select("seed_id", pl.col("target").alias("_seed_target"))

    is_label = pl.col("strategy") == "label"
    calibrate = use_calibration(expansions.filter(is_label), labelled, spec)
    label_rows = recalibrate(expansions.filter(is_label), spec.labels, calibrate)
    df = pl.concat([expansions.filter(~is_label), label_rows]).join(labelled, on="seed_id", how="left")
    # teacher labels of seeds whose label is known measure the teacher; they are not new data
    df = df.with_columns(
        pl.when(is_label & pl.col("_seed_target").is_not_null())
        .then(pl.col("target") == pl.col("_seed_target"))
        .otherwise(None)
        .alias("teacher_correct")
    )
    report = choose_threshold(df.filter(pl.col("teacher_correct").is_not_null()).rename({"teacher_correct": "correct"}), spec, calibrate)
    threshold = report.threshold if report.threshold is not None else float("inf")

    df = df.with_columns(invalid_reason(df, seeds, spec))
    eligible = pl.col("invalid_reason").is_null() & pl.col("teacher_correct").is_null()
    df = df.with_columns(
        pl.when(is_label).then(pl.col("confidence") >= threshold).otherwise(None).alias("confident"),
        pl.lit(None if report.threshold is None else report.threshold, pl.Float64).alias("min_confidence"),
    )
    eligible = eligible & pl.col("confident").fill_null(True)
    if spec.filters.exact_dedup:
        candidates = df.filter(eligible)
        # against labelled seeds only: an unlabelled pool row is the very text its teacher label is for
        dups = candidates.select("row_id").with_columns(
            exact_duplicates(candidates, seeds.filter(pl.col("target").is_not_null())).alias("dup_of")
        )
        df = df.join(dups, on="row_id", how="left")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("dup_of"))

    reason = (
        pl.when(pl.col("invalid_reason").is_not_null()).then(pl.col("invalid_reason"))
        .when(pl.col("teacher_correct").is_not_null()).then(pl.lit("seed_already_labelled"))
        .when(pl.col("confident") == False).then(pl.lit("low_confidence"))  # noqa: E712 (polars expression)
        .when(pl.col("dup_of").is_not_null()).then(pl.lit("duplicate"))
    )
    df = (
        df.with_columns(reason.alias("reject_reason"))
        .with_columns(pl.col("reject_reason").is_null().alias("accepted"), pl.lit(config_hash).alias("filter_config_hash"))
        .drop("_seed_target", "invalid_reason")
        .sort("strategy", "seed_id", "sample_idx")
    )
    counts = df.group_by("reject_reason").len().sort("reject_reason", nulls_last=False)
    summary = {("accepted" if r is None else r): n for r, n in counts.iter_rows()}
    return df, {"confidence": asdict(report), "reasons": summary, "filter_config_hash": config_hash}
