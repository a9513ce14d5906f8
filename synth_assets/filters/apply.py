"""Run every filter over the expansions and decide, per row, accepted or the first reason to reject.

The filters are FILTERS, in order; each is one module declaring a FilterStep (filters/step.py). One
loop runs them: a step sees which rows are still eligible (rejected by no earlier step), adds its
verdict columns and says why it rejects a row, and reject_reason is the first reason in FILTERS
order. The order is a decision, not an accident:
- validity, format: properties of the row alone (a failed call, an empty or malformed text);
- seed_labelled, label_check, confidence: the teacher's labels, measured on the labelled seeds
  before any filter runs (teacher_labels.py);
- consistency, judge: whether the row's answer is right, by its votes or by the judge's score;
- student_aware: only rows every earlier filter kept are shown to the student;
- decontamination, then the dedups (exact, near, semantic): a dedup keeps the first copy among the
  rows still eligible, so a rejected or contaminated row never hides a good copy, and each dedup
  sees only what the earlier ones kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from synth_assets.filters.confidence import CONFIDENCE
from synth_assets.filters.consistency import CONSISTENCY
from synth_assets.filters.decontam import DECONTAMINATION
from synth_assets.filters.dedup import EXACT_DEDUP, ROW_ORDER
from synth_assets.filters.embedding_dedup import EMBEDDING_DEDUP
from synth_assets.filters.embeddings import MissingEmbedderError, TextEmbedder
from synth_assets.filters.format import FORMAT
from synth_assets.filters.judge import JUDGE
from synth_assets.filters.label_check import LABEL_CHECK
from synth_assets.filters.near_dup import NEAR_DEDUP
from synth_assets.filters.seed_labelled import SEED_LABELLED
from synth_assets.filters.step import FilterInputs, FilterStep
from synth_assets.filters.student_aware import STUDENT_AWARE, StudentPredict
from synth_assets.filters.teacher_labels import measured_labels
from synth_assets.filters.validity import VALIDITY
from synth_assets.spec import PipelineSpec
from synth_assets.storage.parquet import TableBeside

FILTERS: tuple[FilterStep, ...] = (
    VALIDITY, FORMAT, SEED_LABELLED, LABEL_CHECK, CONFIDENCE, CONSISTENCY, JUDGE, STUDENT_AWARE,
    DECONTAMINATION, EXACT_DEDUP, NEAR_DEDUP, EMBEDDING_DEDUP,
)
# `filtered` has kept its verdict columns in this order since before FILTERS was a list (warehouses
# and readers hold tables of that shape); a filter not named here adds its columns after these
_COLUMN_ORDER = ("consistency", "judge", "confidence", "student_aware", "decontamination", "exact_dedup", "near_dedup",
                 "embedding_dedup")
# expansions columns that record the call rather than what it produced: no filter reads them, so `filtered` leaves them
# in the stored expansions and reads them back a slice at a time as it is written (TableBeside), never all at once
# (the format filter's `column` is read when it names one)
CALL_RECORD = ("raw_output", "token_logprobs", "teacher_model", "cache_key", "prompt_hash", "params_hash", "cache_hit",
               "tokens_in", "tokens_out", "latency_ms", "cost_usd", "attempts")


@dataclass(frozen=True)
class FilterReport:
    """What filtering found, for the asset's metadata."""

    reasons: dict[str, int]  # rows per reject reason, "accepted" for the kept ones
    confidence: dict[str, Any]  # the teacher-label threshold and how it was chosen (confidence.ConfidenceReport)
    filter_config_hash: str  # spec.section_hash("filters"): also a column of every row
    ran: tuple[str, ...]  # the steps that judged rows; the others were off or lacked an input, their verdicts null


def training_candidates() -> pl.Expr:
    """Rows of `filtered` that could become training data; teacher labels of labelled seeds only measure the teacher."""
    return pl.col("teacher_correct").is_null()


def _check_columns(step: FilterStep, before: pl.DataFrame, after: pl.DataFrame) -> None:
    """A step adds exactly the columns it declares (and its scratch ones), with the declared dtypes."""
    added = {c: t for c, t in after.schema.items() if c not in before.schema}
    declared = dict(step.columns)
    if set(added) - set(step.scratch) != set(declared) or any(added[c] != t for c, t in declared.items()):
        raise TypeError(f"filter {step.name!r} added {added}, but declares {declared} (scratch {list(step.scratch)})")


def _ordered(expansions: list[str], held: list[str]) -> tuple[str, ...]:
    """`filtered`'s columns in its contract order: the expansions' (and teacher labels'), verdicts, then the decision."""
    by_name = {step.name: step for step in FILTERS}
    steps = [by_name[n] for n in _COLUMN_ORDER] + [s for s in FILTERS if s.name not in _COLUMN_ORDER]
    verdicts = [c for s in steps for c in s.columns if c in held]
    decision = ["reject_reason", "accepted", "filter_config_hash"]
    first = list(dict.fromkeys([*expansions, *held]))
    return (*[c for c in first if c not in verdicts and c not in decision], *verdicts, *decision)


def _read_columns(spec: PipelineSpec, columns: list[str]) -> list[str]:
    """The expansions columns the filters read: all but the call record (and of that, the format filter's column)."""
    f = spec.filters
    read = set(CALL_RECORD) - ({f.format.column} if f.format.enabled else set())
    return [c for c in columns if c not in read]


def run_filters(df: pl.DataFrame, inputs: FilterInputs) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Every step of FILTERS in order: the frame with their verdict columns and `reject_reason`; and the steps that ran."""
    eligible, reasons, ran = pl.lit(True), [], []
    for step in FILTERS:
        if not step.enabled(inputs):
            df = step.off(df)
            continue
        verdict = step.run(df, eligible, inputs)
        _check_columns(step, df, verdict.df)
        df, eligible = verdict.df, eligible & verdict.keeps
        reasons.append(verdict.reason)
        ran.append(step.name)
    df = df.with_columns(pl.coalesce(reasons).alias("reject_reason"))
    return df.drop([c for step in FILTERS for c in step.scratch if c in df.columns]), tuple(ran)


def filter_table(expansions: pl.DataFrame | pl.LazyFrame, seeds: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec,
                 eval_set: pl.DataFrame | None = None, embedder: TextEmbedder | None = None,
                 judgements: pl.DataFrame | None = None, reference_labels: pl.DataFrame | pl.LazyFrame | None = None,
                 student: StudentPredict | None = None) -> tuple[TableBeside, FilterReport]:
    """`filtered` as the expansions' rows in their order, with verdict columns, `accepted` and `reject_reason`; plus a report.

    Only the columns the filters read are held (CALL_RECORD stays in `expansions`, best a lazy scan
    of the stored table), and the IO manager writes the rows a slice at a time, the call record read
    back beside them: a million-row table is never in memory whole. `seeds` may be lazy: only the
    labelled seeds and a few columns of the rest are read.
    `embedder`: embedder_for(spec), needed when the spec turns on an embedding filter. `judgements`
    (the judge's scores by row_id) is given only when the spec turns the judge on.
    `reference_labels`: round 0's expansions, whose teacher labels of the labelled seeds measure the
    teacher for a round that labels only pool rows. `student`: the current student (round 0: the
    seeds-only baseline; round r: round r-1's), for the student-aware filter.
    """
    f = spec.filters
    if embedder is None and f.uses_embeddings:
        field = "filters.embedding_dedup" if f.embedding_dedup.enabled else "filters.decontamination.embedding_threshold"
        raise MissingEmbedderError(f"{field} compares sentence embeddings, but no embedder was given: "
                                   "pass embedder=embedder_for(spec) (synth_assets.filters.embeddings)")
    config_hash = spec.section_hash("filters")
    seeds, stored = seeds.lazy(), expansions.lazy()
    columns = stored.collect_schema().names()
    labelled = seeds.filter(pl.col("target").is_not_null()).collect()
    df, confidence = measured_labels(stored.select(_read_columns(spec, columns)).collect(), labelled, spec, reference_labels)
    inputs = FilterInputs(spec, seeds, labelled, confidence.threshold, eval_set, embedder, judgements, student)
    df, ran = run_filters(df, inputs)
    df = df.with_columns(pl.col("reject_reason").is_null().alias("accepted"), pl.lit(config_hash).alias("filter_config_hash"))
    counts = df.group_by("reject_reason").len().sort("reject_reason", nulls_last=False)
    summary = {("accepted" if r is None else r): n for r, n in counts.iter_rows()}
    return TableBeside(stored, df, _ordered(columns, df.columns)), FilterReport(summary, asdict(confidence), config_hash, ran)


def apply_filters(expansions: pl.DataFrame, seeds: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec,
                  eval_set: pl.DataFrame | None = None, embedder: TextEmbedder | None = None,
                  judgements: pl.DataFrame | None = None, reference_labels: pl.DataFrame | pl.LazyFrame | None = None,
                  student: StudentPredict | None = None) -> tuple[pl.DataFrame, FilterReport]:
    """`filtered` as one frame sorted in ROW_ORDER (the order dedups keep first copies in), for small tables and their callers."""
    table, report = filter_table(expansions, seeds, spec, eval_set, embedder, judgements, reference_labels, student)
    return pl.concat(table.slices(), rechunk=False).sort(*ROW_ORDER, maintain_order=True) if table.height else table.head(0), report
