"""Score any model's predictions on the eval set: one row per metric, one row per (model, item)."""

from __future__ import annotations

from typing import Any

import polars as pl

from synth_assets.answers import is_correct
from synth_assets.evaluation.metrics import classification_metrics, math_metrics
from synth_assets.inference.errors import summarise_errors
from synth_assets.spec import PipelineSpec

# value is null when no prediction of the model could be made (n_errors = every row; error says why);
# otherwise it is measured on the n rows that have one, and n_errors counts the rest
SCORE_SCHEMA = {"model": pl.String, "metric": pl.String, "value": pl.Float64, "n": pl.Int64, "split": pl.String,
                "round": pl.Int64, "checkpoint_id": pl.String, "eval_set_version": pl.String,
                "n_errors": pl.Int64, "error": pl.String}
PRED_SCHEMA = {"model": pl.String, "round": pl.Int64, "eval_id": pl.String, "target": pl.String,
               "prediction": pl.String, "correct": pl.Boolean, "error": pl.String}


def task_metrics(spec: PipelineSpec, truth: list[str], pred: list[str | None]) -> dict[str, float]:
    if spec.task == "math":
        return math_metrics(truth, pred, spec.metrics)
    return classification_metrics(truth, pred, spec.labels, spec.metrics)


def score_predictions(spec: PipelineSpec, eval_set: pl.DataFrame, eval_version: str, round_: int,
                      predictions: dict[str, tuple[list[str | None], str | None]],
                      split: str = "test", errors: dict[str, list[str | None]] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(eval_scores rows, eval_predictions rows) for {model: (predictions in eval order, checkpoint id)}.

    `errors`: per model, why each row has no prediction (a failed teacher call), None where it has one.
    A row that could not be predicted is not scored as wrong: the metric covers the answered rows, and a
    model with none is null, never 0.
    """
    truth = eval_set["target"].to_list()
    scores: list[dict[str, Any]] = []
    pred_rows: list[dict[str, Any]] = []
    for model, (pred, ckpt) in predictions.items():
        errs = (errors or {}).get(model) or [None] * len(truth)
        answered = [i for i, e in enumerate(errs) if e is None]
        failed = [e for e in errs if e is not None]
        if answered:
            values: dict[str, float | None] = task_metrics(spec, [truth[i] for i in answered], [pred[i] for i in answered])
        else:
            values = dict.fromkeys(spec.metrics)
        summary = summarise_errors(failed) if failed else None
        for metric, value in values.items():
            scores.append({"model": model, "metric": metric, "value": value, "n": len(answered), "split": split,
                           "round": round_, "checkpoint_id": ckpt, "eval_set_version": eval_version,
                           "n_errors": len(failed), "error": summary})
        pred_rows += [{"model": model, "round": round_, "eval_id": i, "target": t, "prediction": p,
                       "correct": is_correct(spec, p, t) if e is None else None, "error": e}
                      for i, t, p, e in zip(eval_set["eval_id"], truth, pred, errs)]
    return pl.DataFrame(scores, schema=SCORE_SCHEMA), pl.DataFrame(pred_rows, schema=PRED_SCHEMA)


def score_errors(scores: pl.DataFrame) -> list[str]:
    """One line per model some of whose eval rows could not be predicted, for logs and the CLI summary."""
    if "n_errors" not in scores.columns:  # tables written before errors were recorded
        return []
    failed = scores.filter(pl.col("n_errors") > 0).unique(subset=["round", "model"], keep="first", maintain_order=True)
    return [f"{r['model']} (round {r['round']}): {r['n_errors']} of {r['n'] + r['n_errors']} eval rows have no prediction"
            f"{', so its scores are null' if not r['n'] else ''}: {r['error']}" for r in failed.iter_rows(named=True)]
