"""Student-aware filter: a generated row the current student already gets right teaches it nothing.

The current student is the seeds-only baseline for round 0's rows and the previous round's
checkpoint for a round's rows. A classifier must predict the row's target *and* give it at least `min_true_prob`:
a right answer held with little conviction is still worth teaching. A causal-LM student gives no
probabilities, so for it a right answer is enough. Only rows that every earlier filter kept are
shown to the student: a rejected row costs no prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from synth_assets.answers import is_correct
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict, attach, rows_where
from synth_assets.spec import PipelineSpec
from synth_assets.training.base import Prediction

StudentPredict = Callable[[list[str]], list[Prediction]]
VERDICT_SCHEMA = {"row_id": pl.String, "student_prediction": pl.String, "student_true_prob": pl.Float64,
                  "student_knows": pl.Boolean}


def student_verdicts(candidates: pl.DataFrame, spec: PipelineSpec, predict: StudentPredict) -> pl.DataFrame:
    """row_id → the student's answer, its probability for the row's target, and whether it already knows the row."""
    rows = candidates.filter(pl.col("input").is_not_null() & pl.col("target").is_not_null())
    if rows.height == 0:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    outputs = predict(rows["input"].to_list())
    floor = spec.filters.student_aware.min_true_prob
    probs = [o.probs.get(t) if o.probs else None for o, t in zip(outputs, rows["target"])]
    knows = [is_correct(spec, o.label, t) and (p is None or p >= floor) for o, t, p in zip(outputs, rows["target"], probs)]
    return pl.DataFrame({"row_id": rows["row_id"], "student_prediction": [o.label for o in outputs],
                         "student_true_prob": probs, "student_knows": knows}, schema=VERDICT_SCHEMA)


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    df = attach(df, student_verdicts(rows_where(df, eligible, "row_id", "input", "target"), inputs.spec, inputs.student))
    reason = pl.when(pl.col("student_knows") == True).then(pl.lit("student_already_right"))  # noqa: E712 (polars expression)
    return Verdict(df, reason, ~pl.col("student_knows").fill_null(False))


STUDENT_AWARE = FilterStep(name="student_aware", section="student_aware", run=_run, reasons=("student_already_right",),
                           needs=("student",), columns={c: t for c, t in VERDICT_SCHEMA.items() if c != "row_id"})
