"""Run every filter over the expansions and decide, per row, accepted or the first reason to reject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import polars as pl

from synth_assets.filters.confidence import choose_threshold, label_priors, recalibrate, use_calibration
from synth_assets.filters.consistency import consistency_verdicts
from synth_assets.filters.decontam import contaminated_by
from synth_assets.filters.dedup import exact_duplicates, input_keyed
from synth_assets.filters.embedding_dedup import embedding_duplicates
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.filters.judge import judge_verdicts
from synth_assets.filters.near_dup import near_duplicates
from synth_assets.filters.student_aware import VERDICT_SCHEMA, StudentPredict, student_verdicts
from synth_assets.filters.validity import invalid_reason
from synth_assets.spec import PipelineSpec

ROW_ORDER = ("strategy", "seed_id", "sample_idx", "row_id")  # "earlier" for every dedup: the kept copy is the same in every run
DupFinder = Callable[[list[str | None], list[str | None]], list[int | None]]  # (texts, reference_texts) -> index or None


def training_candidates() -> pl.Expr:
    """Rows of `filtered` that could become training data; teacher labels of labelled seeds only measure the teacher."""
    return pl.col("teacher_correct").is_null()


def _dup_column(df: pl.DataFrame, candidates: pl.DataFrame, refs: pl.DataFrame, name: str, find: DupFinder) -> pl.DataFrame:
    """Join column `name` (the seed_id / row_id each candidate repeats) from find(texts, reference_texts)."""
    candidates = candidates.sort(*ROW_ORDER)
    ids = refs["seed_id"].to_list() + candidates["row_id"].to_list()
    hits = find(candidates["input"].to_list(), refs["input"].to_list())
    col = pl.Series(name, [None if h is None else ids[h] for h in hits], dtype=pl.String)
    return df.join(candidates.select("row_id").with_columns(col), on="row_id", how="left")


def _checked(spec: PipelineSpec, columns: list[str]) -> pl.Expr:
    """Rows whose text the teacher re-labelled (verify_label): round 0 by its strategies, later rounds by rounds.strategy."""
    first = [cfg.name for cfg in spec.strategies if cfg.checks_label]
    later = [spec.rounds.strategy.name] if spec.rounds.strategy and spec.rounds.strategy.checks_label else []
    in_round = pl.col("round") if "round" in columns else pl.lit(0)
    strategy = pl.col("strategy")
    return (strategy != "label") & pl.when(in_round == 0).then(strategy.is_in(first)).otherwise(strategy.is_in(later))


def _teacher_labels(expansions: pl.DataFrame, reference: pl.DataFrame | None, labelled: pl.DataFrame,
                    spec: PipelineSpec) -> tuple[pl.DataFrame, bool]:
    """Rows with `teacher_label` (and label rows' target) from recalibrated label scores, `_reference` marking reference rows.

    Label rows and checked rows share one prior, so a hard negative's label is read like a pool label.
    """
    is_label = pl.col("strategy") == "label"
    checked = _checked(spec, expansions.columns)
    rows = expansions.with_columns(pl.lit(False).alias("_reference"))
    if reference is not None:
        rows = pl.concat([rows, reference.filter(is_label).select(expansions.columns).with_columns(pl.lit(True).alias("_reference"))])
    label_rows = rows.filter(is_label)
    calibrate = use_calibration(label_rows, labelled, spec)
    priors = label_priors(label_rows, spec.labels)
    df = pl.concat([
        rows.filter(~is_label & ~checked).with_columns(pl.lit(None, pl.String).alias("teacher_label")),
        recalibrate(rows.filter(checked), spec.labels, calibrate, priors, column="teacher_label"),
        recalibrate(label_rows, spec.labels, calibrate, priors).with_columns(pl.col("target").alias("teacher_label")),
    ])
    return df, calibrate


def apply_filters(expansions: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec, eval_set: pl.DataFrame | None = None,
                  embedder: TextEmbedder | None = None, judgements: pl.DataFrame | None = None,
                  reference_labels: pl.DataFrame | None = None, student: StudentPredict | None = None,
                  ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """`filtered`: the expansions with verdict columns, `accepted` and `reject_reason`; plus a report.

    `judgements` (the judge's scores by row_id) is given only when the spec turns the judge on.
    `reference_labels`: round 0's expansions, whose teacher labels of the labelled seeds measure the
    teacher for a round that labels only pool rows. `student`: the current student (round 0: the
    seeds-only baseline; round r: round r-1's), for the student-aware filter.
    """
    config_hash = spec.section_hash("filters")
    f = spec.filters
    if embedder is None and f.uses_embeddings:
        embedder = TextEmbedder(f.embedding_model)
    labelled = seeds.filter(pl.col("target").is_not_null()).select("seed_id", pl.col("target").alias("_seed_target"))

    is_label = pl.col("strategy") == "label"
    checked = _checked(spec, expansions.columns)
    df, calibrate = _teacher_labels(expansions, reference_labels, labelled, spec)
    df = df.join(labelled, on="seed_id", how="left")
    # teacher labels of seeds whose label is known measure the teacher; they are not new data
    df = df.with_columns(
        pl.when(is_label & pl.col("_seed_target").is_not_null())
        .then(pl.col("target") == pl.col("_seed_target"))
        .otherwise(None)
        .alias("teacher_correct")
    )
    report = choose_threshold(df.filter(pl.col("teacher_correct").is_not_null()).rename({"teacher_correct": "correct"}), spec, calibrate)
    threshold = report.threshold if report.threshold is not None else float("inf")
    df = df.filter(~pl.col("_reference")).drop("_reference")
    label_reason = (
        pl.when(~checked).then(pl.lit(None, pl.String))
        .when(pl.col("teacher_label").is_null()).then(pl.lit("label_check_failed"))
        .when(pl.col("teacher_label") != pl.col("target")).then(pl.lit("teacher_disagrees"))
    )
    df = df.with_columns(label_reason.alias("_label_reason"))

    df = df.with_columns(invalid_reason(df, seeds, spec))
    df = df.join(consistency_verdicts(df, seeds, spec), on="row_id", how="left")
    df = df.join(judge_verdicts(judgements), on="row_id", how="left")
    judge_reason = (
        pl.when(pl.col("judge_error").is_not_null()).then(pl.lit("judge_error"))
        .when(pl.col("judge_score") < f.judge.min_score).then(pl.lit("low_judge_score"))
    ) if f.judge.enabled else pl.lit(None, pl.String)
    df = df.with_columns(judge_reason.alias("_judge_reason"))
    eligible = pl.col("invalid_reason").is_null() & pl.col("teacher_correct").is_null()
    # dedup keeps the first copy among rows that pass everything else, so a rejected copy never hides a good one
    eligible = eligible & pl.col("consistency_reason").is_null() & pl.col("_judge_reason").is_null() & pl.col("_label_reason").is_null()
    df = df.with_columns(
        pl.when(is_label | checked).then(pl.col("confidence") >= threshold).otherwise(None).alias("confident"),
        pl.lit(None if report.threshold is None else report.threshold, pl.Float64).alias("min_confidence"),
    )
    eligible = eligible & pl.col("confident").fill_null(True)
    if student is not None and f.student_aware.enabled:
        df = df.join(student_verdicts(df.filter(eligible), spec, student), on="row_id", how="left")
        eligible = eligible & ~pl.col("student_knows").fill_null(False)
    else:
        df = df.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in VERDICT_SCHEMA.items() if name != "row_id")
    # a text that contains an eval item is never training data, nor the kept copy of a duplicate group
    if f.decontamination.enabled and eval_set is not None:
        df = df.with_columns(contaminated_by(df["input"], eval_set, f.decontamination, embedder))
        df = df.with_columns(pl.col("contaminated_by").is_not_null().alias("contaminated"))
        eligible = eligible & ~pl.col("contaminated")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("contaminated_by"), pl.lit(None, pl.Boolean).alias("contaminated"))
    # against labelled seeds only: an unlabelled pool row is the very text its teacher label is for
    labelled_seeds = seeds.filter(pl.col("target").is_not_null())
    if spec.filters.exact_dedup:
        candidates = df.filter(eligible)
        dups = candidates.select("row_id").with_columns(exact_duplicates(candidates, labelled_seeds).alias("dup_of"))
        df = df.join(dups, on="row_id", how="left")
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("dup_of"))
    # each later dedup sees only the rows the earlier ones kept; rows whose input is their seed's by
    # design (answer_augment, revthink, rationale) differ in their target, which these dedups do not read
    eligible = eligible & pl.col("dup_of").is_null() & input_keyed(df)
    nd = f.near_dedup
    if nd.enabled:
        df = _dup_column(df, df.filter(eligible), labelled_seeds, "near_dup_of", lambda texts, refs: near_duplicates(
            texts, refs, threshold=nd.threshold, num_perm=nd.num_perm, ngram=nd.ngram, unit=nd.unit))
        eligible = eligible & pl.col("near_dup_of").is_null()
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("near_dup_of"))
    if f.embedding_dedup.enabled:
        df = _dup_column(df, df.filter(eligible), labelled_seeds, "embed_dup_of", lambda texts, refs: embedding_duplicates(
            texts, refs, threshold=f.embedding_dedup.threshold, embedder=embedder))
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("embed_dup_of"))

    reason = (
        pl.when(pl.col("invalid_reason").is_not_null()).then(pl.col("invalid_reason"))
        .when(pl.col("teacher_correct").is_not_null()).then(pl.lit("seed_already_labelled"))
        .when(pl.col("_label_reason").is_not_null()).then(pl.col("_label_reason"))
        .when(pl.col("confident") == False).then(pl.lit("low_confidence"))  # noqa: E712 (polars expression)
        .when(pl.col("consistency_reason").is_not_null()).then(pl.col("consistency_reason"))
        .when(pl.col("_judge_reason").is_not_null()).then(pl.col("_judge_reason"))
        .when(pl.col("student_knows") == True).then(pl.lit("student_already_right"))  # noqa: E712
        .when(pl.col("contaminated") == True).then(pl.lit("eval_contamination"))  # noqa: E712
        .when(pl.col("dup_of").is_not_null()).then(pl.lit("duplicate"))
        .when(pl.col("near_dup_of").is_not_null()).then(pl.lit("near_duplicate"))
        .when(pl.col("embed_dup_of").is_not_null()).then(pl.lit("semantic_duplicate"))
    )
    df = (
        df.with_columns(reason.alias("reject_reason"))
        .with_columns(pl.col("reject_reason").is_null().alias("accepted"), pl.lit(config_hash).alias("filter_config_hash"))
        .drop("_seed_target", "invalid_reason", "consistency_reason", "_judge_reason", "_label_reason")
        .sort(*ROW_ORDER)
    )
    counts = df.group_by("reject_reason").len().sort("reject_reason", nulls_last=False)
    summary = {("accepted" if r is None else r): n for r, n in counts.iter_rows()}
    return df, {"confidence": asdict(report), "reasons": summary, "filter_config_hash": config_hash}
