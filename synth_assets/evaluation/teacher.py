"""Teacher zero-shot predictions on the eval set, through the same cache (and, for labels, calibration)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from synth_assets.filters.confidence import recalibrate
from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.budget import Budget, teacher_budget
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec, StrategySpec
from synth_assets.templates import render
from synth_assets.strategies.expand import expand


# the cost-ledger columns of a teacher call, as expansions has them; eval_predictions carries them for the teacher
LEDGER_COLUMNS = ("teacher_model", "cache_hit", "tokens_in", "tokens_out", "latency_ms", "cost_usd")


@dataclass
class TeacherEval:
    """The teacher on the eval set: predictions per method, why rows have none, and what the calls cost."""

    predictions: dict[str, list[str | None]]  # "raw" (and "calibrated" for labels), in eval_set order
    errors: list[str | None]  # per eval row, None where the teacher answered
    ledger: pl.DataFrame  # eval_id + LEDGER_COLUMNS
    stats: RunStats


def teacher_predictions(spec: PipelineSpec, eval_set: pl.DataFrame, teacher: TeacherSession) -> TeacherEval:
    """Raw and prior-calibrated teacher labels per eval row, in eval_set order."""
    # every eval row is labelled, whatever share of the pool the label strategy labels
    label_cfg = (spec.label_strategy or StrategySpec(name="label")).model_copy(update={"pool_rows": None})
    only_label = spec.model_copy(update={"strategies": [label_cfg]})
    # eval rows are scored without their target: the teacher must not see the answer
    rows = eval_set.select(pl.col("eval_id").alias("seed_id"), "input", pl.lit(None, pl.String).alias("target"))
    # the budget caps what the *dataset* costs; measuring the teacher is never cut short (but is priced);
    # failed eval calls are recorded per row (the score is null, not 0) rather than failing the step
    uncapped = teacher.with_budget(Budget(price=teacher_budget(spec).price))
    df, stats = expand(only_label, rows, uncapped, probe=False)
    calibrated = recalibrate(df, spec.labels, calibrate=True)
    ledger = df.select(pl.col("seed_id").alias("eval_id"), *LEDGER_COLUMNS)
    return TeacherEval({"raw": df["target"].to_list(), "calibrated": calibrated["target"].to_list()},
                       df["error"].to_list(), ledger, stats)


SOLVE_TEMPLATE = ("{instruction}\n\nProblem: {input}\n\nSolve it step by step, then give the final answer "
                  "on its own last line as '#### <number>'.")
SOLVE_VERSION = "1"


def teacher_solutions(spec: PipelineSpec, eval_set: pl.DataFrame, teacher: TeacherSession) -> TeacherEval:
    """The teacher's greedy worked answer per eval problem (math), in eval_set order; errors give None."""
    params = SamplingParams(max_new_tokens=max(spec.teacher.max_new_tokens, 256), temperature=0.0, seed=spec.teacher.seed)
    teacher = teacher.with_budget(Budget(price=teacher_budget(spec).price))
    calls = []
    for text in eval_set["input"]:
        prompt = render(SOLVE_TEMPLATE, instruction=spec.instruction, input=text)
        calls.append(teacher.call(GenerationRequest(messages=(("user", prompt),), params=params), "eval_solve", SOLVE_VERSION))
    results, stats = teacher.run(calls, probe=False)
    answers = [results[c.key] for c in calls]
    costs = [teacher.cost(r) for r, _ in answers]
    ledger = pl.DataFrame({
        "eval_id": eval_set["eval_id"], "teacher_model": [teacher.model_id] * len(calls),
        "cache_hit": [hit for _, hit in answers], "tokens_in": [c.tokens_in for c in costs],
        "tokens_out": [c.tokens_out for c in costs], "latency_ms": [float(c.latency_ms) for c in costs],
        "cost_usd": [c.cost_usd for c in costs],
    }, schema={"eval_id": pl.String, "teacher_model": pl.String, "cache_hit": pl.Boolean, "tokens_in": pl.Int64,
               "tokens_out": pl.Int64, "latency_ms": pl.Float64, "cost_usd": pl.Float64})
    return TeacherEval({"raw": [r.text for r, _ in answers]}, [r.error for r, _ in answers], ledger, stats)
