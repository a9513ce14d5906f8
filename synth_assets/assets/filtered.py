"""Filtered expansions and the train set: verdicts per row, then the exact rows a student sees."""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.student import train_variant
from synth_assets.evaluation.students import student_outputs
from synth_assets.filters.apply import apply_filters, training_candidates
from synth_assets.filters.student_aware import StudentPredict
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.plots import image_markdown, length_histogram

CODE_VERSION = "2"  # 2: the rationale column
# 2: eval_set input; near-duplicate, semantic-duplicate and contamination verdicts
# 3: answer checks (verified, majority_answer, agreement), judge and rationale columns
# 4: teacher_label (label checks) and the student-aware columns
# 5: decontamination's word test (template siblings are not leaks); length bounds on generated text only
FILTERED_VERSION = "5"
TRAIN_SCHEMA = {
    "row_id": pl.String, "input": pl.String, "target": pl.String, "origin": pl.String,
    "strategy": pl.String, "seed_id": pl.String, "round": pl.Int64,
    # the teacher's explanation (rationale strategy), for students that learn from explanations
    "rationale": pl.String,
}


def accepted_rows(filtered: pl.DataFrame) -> pl.DataFrame:
    """The accepted expansions as train_set rows (origin `expansion`, their round kept)."""
    return filtered.filter(pl.col("accepted")).select(
        "row_id", "input", "target", pl.lit("expansion").alias("origin"), "strategy", "seed_id", "round", "rationale"
    ).cast(TRAIN_SCHEMA)


def seed_rows(seeds: pl.DataFrame) -> pl.DataFrame:
    """The labelled seeds as train_set rows (origin `seed`, round 0)."""
    return seeds.filter(pl.col("target").is_not_null()).select(
        pl.col("seed_id").alias("row_id"), "input", "target", pl.lit("seed").alias("origin"),
        pl.lit(None, pl.String).alias("strategy"), "seed_id", pl.lit(0, pl.Int64).alias("round"),
        pl.lit(None, pl.String).alias("rationale"),
    ).cast(TRAIN_SCHEMA)


def seeds_only_student(b: Build, context: AssetExecutionContext, seeds: pl.DataFrame) -> StudentPredict | None:
    """Round 0's current student for the student-aware filter: the seeds-only baseline.

    Trained on exactly the rows student_checkpoint's seeds_only variant trains on, so the checkpoint
    cache holds it once and student_checkpoint reuses it.
    """
    if not b.spec.filters.student_aware.enabled:
        return None
    checkpoint = train_variant(b, context, seed_rows(seeds), "seeds_only")
    return lambda texts: student_outputs(b.spec, checkpoint, texts)


def length_chart(df: pl.DataFrame) -> str:
    """Input lengths of accepted vs rejected candidate rows (teacher-measuring rows left out)."""
    lengths = df.filter(training_candidates() & pl.col("input").is_not_null()).select("accepted", pl.col("input").str.len_chars())
    accepted = lengths.filter(pl.col("accepted"))["input"].to_list()
    rejected = lengths.filter(~pl.col("accepted"))["input"].to_list()
    return image_markdown(length_histogram(accepted, rejected), "length of accepted vs rejected expansions")


def build_filter_assets(b: Build) -> list:
    spec = b.spec
    ins = {"expansions": AssetIn(key=b.key("expansions")), "seeds": AssetIn(key=b.key("seeds")),
           "eval_set": AssetIn(key=b.key("eval_set"))}

    def verdicts(context: AssetExecutionContext, expansions: pl.DataFrame, seeds: pl.DataFrame, eval_set: pl.DataFrame,
                 judgements: pl.DataFrame | None):
        df, report = apply_filters(expansions, seeds, spec, eval_set, judgements=judgements,
                                   student=seeds_only_student(b, context, seeds))
        by_strategy = df.group_by("strategy").agg(pl.len().alias("rows"), pl.col("accepted").sum().alias("accepted")).sort("strategy")
        return table_output(
            df,
            accepted=int(df["accepted"].sum()),
            rejected=int((~df["accepted"]).sum()),
            reject_reasons=MetadataValue.json(report["reasons"]),
            teacher_confidence=MetadataValue.json(report["confidence"]),
            filter_config_hash=report["filter_config_hash"],
            by_strategy=MetadataValue.md(preview_markdown(by_strategy, rows=50)),
            length_histogram=MetadataValue.md(length_chart(df)),
        )

    # Dagster reads an asset's inputs from its signature: the judge's scores are an input only when it is on
    if spec.filters.judge.enabled:
        ins["judgements"] = AssetIn(key=b.key("judgements"))

        def filtered(context: AssetExecutionContext, expansions: pl.DataFrame, seeds: pl.DataFrame, eval_set: pl.DataFrame,
                     judgements: pl.DataFrame):
            return verdicts(context, expansions, seeds, eval_set, judgements)
    else:
        def filtered(context: AssetExecutionContext, expansions: pl.DataFrame, seeds: pl.DataFrame, eval_set: pl.DataFrame):
            return verdicts(context, expansions, seeds, eval_set, None)

    student_sections = ("student", "instruction", "task") if spec.filters.student_aware.enabled else ()
    filtered = asset(
        key=b.key("filtered"),
        ins=ins,
        group_name=b.group,
        kinds=TABLE_KINDS,
        # with the student-aware filter on, the seeds-only student's settings shape the verdicts too
        code_version=f"{FILTERED_VERSION}-{spec.section_hash('filters', 'labels', *student_sections)}",
        description=(
            "Every expansion with its verdicts: validity, teacher_correct (teacher labels of known seeds), "
            "calibrated confidence vs min_confidence, teacher_label (the teacher's own label of a text written for a label), "
            "answer checks (verified, majority_answer, agreement), "
            "judge_score when the judge is on, contaminated (contains an eval item), dup_of, "
            "near_dup_of (MinHash-LSH), embed_dup_of (embeddings); then `accepted` and the first `reject_reason`."
        ),
    )(leased(b.root)(filtered))

    @asset(
        key=b.key("train_set"),
        ins={"filtered": AssetIn(key=b.key("filtered")), "seeds": AssetIn(key=b.key("seeds"))},
        group_name=b.group,
        kinds=TABLE_KINDS,
        code_version=CODE_VERSION,
        description="The exact rows a student trains on: labelled seeds plus accepted expansions, each traceable via the `lineage` view.",
    )
    @leased(b.root)
    def train_set(filtered: pl.DataFrame, seeds: pl.DataFrame):
        seeds_part = seed_rows(seeds)
        expansion_rows = accepted_rows(filtered)
        df = pl.concat([seeds_part, expansion_rows])
        return table_output(
            df,
            seeds=seeds_part.height,
            expansions=expansion_rows.height,
            label_counts=MetadataValue.json(dict(df.group_by("target").len().iter_rows())),
        )

    return [filtered, train_set]
