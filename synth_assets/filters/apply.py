"""Run every filter over the expansions and decide, per row, accepted or the first reason to reject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import polars as pl

from synth_assets.filters.confidence import choose_threshold, recalibrate, use_calibration
from synth_assets.filters.consistency import consistency_verdicts
from synth_assets.filters.decontam import contaminated_by
from synth_assets.filters.dedup import exact_duplicates, input_keyed
from synth_assets.filters.embedding_dedup import embedding_duplicates
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.filters.judge import judge_verdicts
from synth_assets.filters.near_dup import near_duplicates
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


def apply_filters(expansions: pl.DataFrame, seeds: pl.DataFrame, spec: PipelineSpec, eval_set: pl.DataFrame | None = None,
                  embedder: TextEmbedder | None = None, judgements: pl.DataFrame | None = None) -> tuple[pl.DataFrame, dict[str, Any]]:
    """`filtered`: the expansions with verdict columns, `accepted` and `reject_reason`; plus a report.

    `judgements` (the judge's scores by row_id) is given only when the spec turns the judge on.
    """
    config_hash = spec.section_hash("filters")
    f = spec.filters
    if embedder is None and f.uses_embeddings:
        embedder = TextEmbedder(f.embedding_model)
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
    df = df.join(consistency_verdicts(df, seeds, spec), on="row_id", how="left")
    df = df.join(judge_verdicts(judgements), on="row_id", how="left")
    judge_reason = (
        pl.when(pl.col("judge_error").is_not_null()).then(pl.lit("judge_error"))
        .when(pl.col("judge_score") < f.judge.min_score).then(pl.lit("low_judge_score"))
    ) if f.judge.enabled else pl.lit(None, pl.String)
    df = df.with_columns(judge_reason.alias("_judge_reason"))
    eligible = pl.col("invalid_reason").is_null() & pl.col("teacher_correct").is_null()
    # dedup keeps the first copy among rows that pass everything else, so a rejected copy never hides a good one
    eligible = eligible & pl.col("consistency_reason").is_null() & pl.col("_judge_reason").is_null()
    df = df.with_columns(
        pl.when(is_label).then(pl.col("confidence") >= threshold).otherwise(None).alias("confident"),
        pl.lit(None if report.threshold is None else report.threshold, pl.Float64).alias("min_confidence"),
    )
    eligible = eligible & pl.col("confident").fill_null(True)
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
        .when(pl.col("confident") == False).then(pl.lit("low_confidence"))  # noqa: E712 (polars expression)
        .when(pl.col("consistency_reason").is_not_null()).then(pl.col("consistency_reason"))
        .when(pl.col("_judge_reason").is_not_null()).then(pl.col("_judge_reason"))
        .when(pl.col("contaminated") == True).then(pl.lit("eval_contamination"))  # noqa: E712
        .when(pl.col("dup_of").is_not_null()).then(pl.lit("duplicate"))
        .when(pl.col("near_dup_of").is_not_null()).then(pl.lit("near_duplicate"))
        .when(pl.col("embed_dup_of").is_not_null()).then(pl.lit("semantic_duplicate"))
    )
    df = (
        df.with_columns(reason.alias("reject_reason"))
        .with_columns(pl.col("reject_reason").is_null().alias("accepted"), pl.lit(config_hash).alias("filter_config_hash"))
        .drop("_seed_target", "invalid_reason", "consistency_reason", "_judge_reason")
        .sort(*ROW_ORDER)
    )
    counts = df.group_by("reject_reason").len().sort("reject_reason", nulls_last=False)
    summary = {("accepted" if r is None else r): n for r, n in counts.iter_rows()}
    return df, {"confidence": asdict(report), "reasons": summary, "filter_config_hash": config_hash}
