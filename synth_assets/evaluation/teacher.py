"""Teacher zero-shot predictions on the eval set, through the same cache (and, for labels, calibration)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from synth_assets.filters.confidence import recalibrate
from synth_assets.strategies.expand import expand
from synth_assets.inference.base import TeacherBackend
from synth_assets.inference.budget import Budget
from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.runner import RunStats, run_calls
from synth_assets.strategies.base import render
from synth_assets.spec import PipelineSpec, StrategySpec


# the cost-ledger columns of a teacher call, as expansions has them; eval_predictions carries them for the teacher
LEDGER_COLUMNS = ("teacher_model", "cache_hit", "tokens_in", "tokens_out", "latency_ms", "cost_usd")


@dataclass
class TeacherEval:
    """The teacher on the eval set: predictions per method, why rows have none, and what the calls cost."""

    predictions: dict[str, list[str | None]]  # "raw" (and "calibrated" for labels), in eval_set order
    errors: list[str | None]  # per eval row, None where the teacher answered
    ledger: pl.DataFrame  # eval_id + LEDGER_COLUMNS
    stats: RunStats


def teacher_predictions(
    spec: PipelineSpec, eval_set: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int
) -> TeacherEval:
    """Raw and prior-calibrated teacher labels per eval row, in eval_set order."""
    # every eval row is labelled, whatever share of the pool the label strategy labels
    label_cfg = (spec.label_strategy or StrategySpec(name="label")).model_copy(update={"pool_rows": None})
    only_label = spec.model_copy(update={"strategies": [label_cfg]})
    # eval rows are scored without their target: the teacher must not see the answer
    rows = eval_set.select(pl.col("eval_id").alias("seed_id"), "input", pl.lit(None, pl.String).alias("target"))
    # the budget caps what the *dataset* costs; measuring the teacher is never cut short (but is priced);
    # failed eval calls are recorded per row (the score is null, not 0) rather than failing the step
    uncapped = Budget(price=spec.teacher_budget().price)
    df, stats = expand(only_label, rows, backend, cache, batch_size, budget=uncapped, probe=False)
    calibrated = recalibrate(df, spec.labels, calibrate=True)
    ledger = df.select(pl.col("seed_id").alias("eval_id"), *LEDGER_COLUMNS)
    return TeacherEval({"raw": df["target"].to_list(), "calibrated": calibrated["target"].to_list()},
                       df["error"].to_list(), ledger, stats)


SOLVE_TEMPLATE = ("{instruction}\n\nProblem: {input}\n\nSolve it step by step, then give the final answer "
                  "on its own last line as '#### <number>'.")
SOLVE_VERSION = "1"


def teacher_solutions(
    spec: PipelineSpec, eval_set: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int
) -> TeacherEval:
    """The teacher's greedy worked answer per eval problem (math), in eval_set order; errors give None."""
    params = SamplingParams(max_new_tokens=max(spec.teacher.max_new_tokens, 256), temperature=0.0, seed=spec.teacher.seed)
    calls = []
    for text in eval_set["input"]:
        prompt = render(SOLVE_TEMPLATE, instruction=spec.instruction, input=text)
        request = GenerationRequest(messages=(("user", prompt),), params=params)
        calls.append(TeacherCall(request.cache_key(backend.model_id, "eval_solve", SOLVE_VERSION), request,
                                 "eval_solve", SOLVE_VERSION))
    budget = Budget(price=spec.teacher_budget().price)
    results, stats = run_calls(calls, backend, cache, batch_size, budget, probe=False)
    answers = [results[c.key] for c in calls]
    ledger = pl.DataFrame({
        "eval_id": eval_set["eval_id"], "teacher_model": [backend.model_id] * len(calls),
        "cache_hit": [hit for _, hit in answers], "tokens_in": [r.tokens_in for r, _ in answers],
        "tokens_out": [r.tokens_out for r, _ in answers], "latency_ms": [float(r.latency_ms) for r, _ in answers],
        "cost_usd": [budget.price.cost(r.tokens_in, r.tokens_out) for r, _ in answers],
    }, schema={"eval_id": pl.String, "teacher_model": pl.String, "cache_hit": pl.Boolean, "tokens_in": pl.Int64,
               "tokens_out": pl.Int64, "latency_ms": pl.Float64, "cost_usd": pl.Float64})
    return TeacherEval({"raw": [r.text for r, _ in answers]}, [r.error for r, _ in answers], ledger, stats)
