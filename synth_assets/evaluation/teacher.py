"""Teacher zero-shot predictions on the eval set, through the same strategy, cache and calibration."""

from __future__ import annotations

import polars as pl

from synth_assets.filters.confidence import recalibrate
from synth_assets.strategies.expand import expand
from synth_assets.inference.base import TeacherBackend
from synth_assets.inference.budget import Budget
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.runner import RunStats
from synth_assets.spec import PipelineSpec, StrategySpec


def teacher_predictions(
    spec: PipelineSpec, eval_set: pl.DataFrame, backend: TeacherBackend, cache: TeacherCache, batch_size: int
) -> tuple[dict[str, list[str | None]], RunStats]:
    """Raw and prior-calibrated teacher labels per eval row, in eval_set order."""
    label_cfg = next((s for s in spec.strategies if s.name == "label"), StrategySpec(name="label"))
    only_label = spec.model_copy(update={"strategies": [label_cfg]})
    # eval rows are scored without their target: the teacher must not see the answer
    rows = eval_set.select(pl.col("eval_id").alias("seed_id"), "input", pl.lit(None, pl.String).alias("target"))
    # the budget caps what the *dataset* costs; measuring the teacher is never cut short (but is priced)
    uncapped = Budget(price=spec.teacher_budget().price)
    df, stats = expand(only_label, rows, backend, cache, batch_size, budget=uncapped)
    calibrated = recalibrate(df, spec.labels, calibrate=True)
    return {"raw": df["target"].to_list(), "calibrated": calibrated["target"].to_list()}, stats
