"""Teacher zero-shot predictions on the eval set, through the same cache (and, for labels, calibration)."""

from __future__ import annotations

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


def teacher_predictions(
    spec: PipelineSpec, eval_set: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int
) -> tuple[dict[str, list[str | None]], RunStats]:
    """Raw and prior-calibrated teacher labels per eval row, in eval_set order."""
    # every eval row is labelled, whatever share of the pool the label strategy labels
    label_cfg = (spec.label_strategy or StrategySpec(name="label")).model_copy(update={"pool_rows": None})
    only_label = spec.model_copy(update={"strategies": [label_cfg]})
    # eval rows are scored without their target: the teacher must not see the answer
    rows = eval_set.select(pl.col("eval_id").alias("seed_id"), "input", pl.lit(None, pl.String).alias("target"))
    # the budget caps what the *dataset* costs; measuring the teacher is never cut short (but is priced)
    uncapped = Budget(price=spec.teacher_budget().price)
    df, stats = expand(only_label, rows, backend, cache, batch_size, budget=uncapped)
    calibrated = recalibrate(df, spec.labels, calibrate=True)
    return {"raw": df["target"].to_list(), "calibrated": calibrated["target"].to_list()}, stats


SOLVE_TEMPLATE = ("{instruction}\n\nProblem: {input}\n\nSolve it step by step, then give the final answer "
                  "on its own last line as '#### <number>'.")
SOLVE_VERSION = "1"


def teacher_solutions(
    spec: PipelineSpec, eval_set: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int
) -> tuple[list[str | None], RunStats]:
    """The teacher's greedy worked answer per eval problem (math), in eval_set order; errors give None."""
    params = SamplingParams(max_new_tokens=max(spec.teacher.max_new_tokens, 256), temperature=0.0, seed=spec.teacher.seed)
    calls = []
    for text in eval_set["input"]:
        prompt = render(SOLVE_TEMPLATE, instruction=spec.instruction, input=text)
        request = GenerationRequest(messages=(("user", prompt),), params=params)
        calls.append(TeacherCall(request.cache_key(backend.model_id, "eval_solve", SOLVE_VERSION), request,
                                 "eval_solve", SOLVE_VERSION))
    results, stats = run_calls(calls, backend, cache, batch_size, Budget(price=spec.teacher_budget().price))
    return [results[c.key][0].text for c in calls], stats
