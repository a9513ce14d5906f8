"""Score any model's predictions on the eval set: one row per metric, one row per (model, item)."""

from __future__ import annotations

from typing import Any

import polars as pl

from synth_assets.evaluation.answers import numbers_match
from synth_assets.evaluation.metrics import classification_metrics, math_metrics
from synth_assets.spec import PipelineSpec

SCORE_SCHEMA = {"model": pl.String, "metric": pl.String, "value": pl.Float64, "n": pl.Int64, "split": pl.String,
                "round": pl.Int64, "checkpoint_id": pl.String, "eval_set_version": pl.String}
PRED_SCHEMA = {"model": pl.String, "round": pl.Int64, "eval_id": pl.String, "target": pl.String,
               "prediction": pl.String, "correct": pl.Boolean}


def is_correct(spec: PipelineSpec, prediction: str | None, target: str | None) -> bool:
    """Right answer for the task: the same label, or the same number for a math problem."""
    if spec.task == "math":
        return numbers_match(prediction, target)
    return prediction is not None and prediction == target


def task_metrics(spec: PipelineSpec, truth: list[str], pred: list[str | None]) -> dict[str, float]:
    if spec.task == "math":
        return math_metrics(truth, pred, spec.metrics)
    return classification_metrics(truth, pred, spec.labels, spec.metrics)


def score_predictions(spec: PipelineSpec, eval_set: pl.DataFrame, eval_version: str, round_: int,
                      predictions: dict[str, tuple[list[str | None], str | None]],
                      split: str = "test") -> tuple[pl.DataFrame, pl.DataFrame]:
    """(eval_scores rows, eval_predictions rows) for {model: (predictions in eval order, checkpoint id)}."""
    truth = eval_set["target"].to_list()
    scores: list[dict[str, Any]] = []
    pred_rows: list[dict[str, Any]] = []
    for model, (pred, ckpt) in predictions.items():
        for metric, value in task_metrics(spec, truth, pred).items():
            scores.append({"model": model, "metric": metric, "value": value, "n": len(truth), "split": split,
                           "round": round_, "checkpoint_id": ckpt, "eval_set_version": eval_version})
        pred_rows += [{"model": model, "round": round_, "eval_id": i, "target": t, "prediction": p,
                       "correct": is_correct(spec, p, t)} for i, t, p in zip(eval_set["eval_id"], truth, pred)]
    return pl.DataFrame(scores, schema=SCORE_SCHEMA), pl.DataFrame(pred_rows, schema=PRED_SCHEMA)
