"""filtered: every expansion of a round with its filter verdicts, `accepted` and the first `reject_reason`.

Round 0 asks the seeds-only student (student-aware filter); round r asks round r-1's student and
measures the teacher's labels against round 0's teacher labels of the labelled seeds.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetIn, MetadataValue, asset

from synth_assets.assets.common import TABLE_KINDS, Build
from synth_assets.assets.student import synthetic_student, train_variant
from synth_assets.assets.train_set import seed_rows
from synth_assets.evaluation.students import student_outputs
from synth_assets.filters.apply import filter_table, training_candidates
from synth_assets.filters.embeddings import embedder_for
from synth_assets.filters.step import rows_where
from synth_assets.filters.student_aware import StudentPredict
from synth_assets.storage.io_manager import lazy_input
from synth_assets.storage.lease import leased
from synth_assets.storage.outputs import preview_markdown, table_output
from synth_assets.storage.plots import image_markdown, length_histogram
from synth_assets.strategies.label_check import default_check_mark, label_checked

# 2: eval_set input; near-duplicate, semantic-duplicate and contamination verdicts
# 3: answer checks (verified, majority_answer, agreement), judge and rationale columns
# 4: teacher_label (label checks) and the student-aware columns
# 5: decontamination's word test (template siblings are not leaks); length bounds on generated text only
FILTERED_VERSION = "5"


def length_chart(df: pl.DataFrame) -> str:
    """Input lengths of accepted vs rejected candidate rows (teacher-measuring rows left out)."""
    lengths = rows_where(df.select("accepted", "teacher_correct", pl.col("input").str.len_chars()),
                         training_candidates() & pl.col("input").is_not_null(), "accepted", "input")
    accepted = lengths.filter(pl.col("accepted"))["input"].to_list()
    rejected = lengths.filter(~pl.col("accepted"))["input"].to_list()
    return image_markdown(length_histogram(accepted, rejected), "length of accepted vs rejected expansions")


def _inputs(b: Build, r: int) -> dict[str, AssetIn]:
    """The round's expansions, the seeds and the eval set; the previous student, round 0's labels and the judge as needed."""
    f = b.spec.filters
    # the seeds and the expansions are read a few columns at a time (lazy): the expansions' call record only as
    # `filtered` is written, a slice at a time
    ins = {"expansions": lazy_input(b.key("expansions", r)), "seeds": lazy_input(b.key("seeds")),
           "eval_set": AssetIn(key=b.key("eval_set"))}
    if r > 0:
        # round 0's teacher labels of the labelled seeds measure the teacher for this round's labels
        ins["reference"] = lazy_input(b.key("expansions", 0))
        if f.student_aware.enabled:
            ins["student_checkpoint"] = AssetIn(key=b.key("student_checkpoint", r - 1))
    if f.judge.enabled:
        ins["judgements"] = AssetIn(key=b.key("judgements", r))
    return ins


# calibrate: auto picks calibration only when it beats raw scores by more than noise (a sign test, filters/confidence.py):
# only pipelines that leave it at auto may read their label scores differently, so only theirs are marked
AUTO_CALIBRATION_MARK = "-cal2"


def _code_version(b: Build, r: int) -> str:
    spec = b.spec
    auto = AUTO_CALIBRATION_MARK if spec.task == "classification" and spec.filters.confidence.calibrate == "auto" else ""
    if r > 0:
        checks = default_check_mark(spec, r)
        return f"{b.round_version(r)}-{spec.section_hash('filters', 'labels')}{checks}{auto}"
    # with the student-aware filter on, the seeds-only student's settings shape the verdicts too
    student_sections = ("student", "instruction", "task") if spec.filters.student_aware.enabled else ()
    checks = default_check_mark(spec, 0)
    return f"{FILTERED_VERSION}-{spec.section_hash('filters', 'labels', *student_sections)}{checks}{auto}"


def _description(b: Build, r: int) -> str:
    if r == 0:
        return ("Every expansion with its verdicts: validity, teacher_correct (teacher labels of known seeds), "
                "calibrated confidence vs min_confidence, teacher_label (the teacher's own label of a text written for a label), "
                "answer checks (verified, majority_answer, agreement), "
                "judge_score when the judge is on, contaminated (contains an eval item), dup_of, "
                "near_dup_of (MinHash-LSH), embed_dup_of (embeddings); then `accepted` and the first `reject_reason`.")
    aware = f"; rows the round-{r - 1} student already gets right are dropped" if b.spec.filters.student_aware.enabled else ""
    return f"Round {r} expansions with their filter verdicts (decontaminated against the eval set{aware})."


def current_student(b: Build, r: int, context: AssetExecutionContext, seeds: pl.DataFrame | pl.LazyFrame,
                    previous: pl.DataFrame | None) -> StudentPredict | None:
    """The student the student-aware filter asks: round 0's seeds-only baseline, or round r-1's student.

    The baseline is trained on exactly the rows student_checkpoint's seeds_only variant trains on, so
    the checkpoint cache holds it once and student_checkpoint reuses it.
    """
    if not b.spec.filters.student_aware.enabled:
        return None
    checkpoint = train_variant(b, context, seed_rows(seeds), "seeds_only")[0] if r == 0 else synthetic_student(previous)
    return lambda texts: student_outputs(b.spec, checkpoint, texts)


def build_filtered(b: Build, r: int = 0):
    """The filtered asset of round r: the same verdicts, metadata and checks in every round."""

    @asset(key=b.key("filtered", r), ins=_inputs(b, r), group_name=b.group, kinds=TABLE_KINDS,
           code_version=_code_version(b, r), description=_description(b, r))
    @leased(b.root)
    def filtered(context: AssetExecutionContext, expansions: pl.LazyFrame, seeds: pl.LazyFrame, eval_set: pl.DataFrame,
                 **extra: pl.DataFrame | pl.LazyFrame):
        student = current_student(b, r, context, seeds, extra.get("student_checkpoint"))
        table, report = filter_table(expansions, seeds, b.spec, eval_set, embedder=embedder_for(b.spec),
                                     judgements=extra.get("judgements"), reference_labels=extra.get("reference"), student=student)
        df = table.held
        by_strategy = df.group_by("strategy").agg(pl.len().alias("rows"), pl.col("accepted").sum().alias("accepted")).sort("strategy")
        return table_output(
            table,
            accepted=int(df["accepted"].sum()),
            rejected=int((~df["accepted"]).sum()),
            reject_reasons=MetadataValue.json(report.reasons),
            teacher_confidence=MetadataValue.json(report.confidence),
            filter_config_hash=report.filter_config_hash,
            label_checked=MetadataValue.json(label_checked(b.spec, r)),
            by_strategy=MetadataValue.md(preview_markdown(by_strategy, rows=50)),
            length_histogram=MetadataValue.md(length_chart(df)),
        )

    return filtered
