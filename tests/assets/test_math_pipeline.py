"""The math task end to end: worked solutions verified against known answers, a causal-LM student, a round.

The fake teacher cannot solve anything, so its solutions fail verification; that is the point of the
plumbing test: every stage runs, wrong answers never reach the train set, and the LoRA student is
trained, answers in text and is scored by the number it gives.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from pipeline_helpers import run_pipeline, table
from spec_helpers import DATA, write_spec
from synth_assets.answers import numbers_match
from synth_assets.spec import load_spec

MATH = {
    "task": "math", "instruction": "Solve the math word problem.", "labels": [], "label_words": {},
    "seeds": [{"path": str(DATA / "math_seeds.jsonl"), "input": "problem", "target": "answer"}],
    "eval": {"path": str(DATA / "math_test.jsonl"), "input": "problem", "target": "answer"},
    "strategies": [{"name": "answer_augment", "samples": 2}, {"name": "rephrase"}],
    "filters": {"validity": {"max_length_ratio": 20.0}},
    "student": {"kind": "causal_lm", "max_steps": 2, "batch_size": 4, "max_length": 160, "learning_rate": 0.001},
    "rounds": {"max_rounds": 1, "strategy": {"name": "error_driven", "samples": 1}},
}


@pytest.mark.slow
def test_math_pipeline_with_a_causal_student_and_a_round(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, **MATH))
    warehouse = tmp_path / "warehouse"
    assert run_pipeline(spec, warehouse, instance=DagsterInstance.ephemeral()).success

    seeds = table(warehouse, spec, "seeds")
    filtered = table(warehouse, spec, "filtered")
    accepted = filtered.filter(pl.col("accepted"))
    # a row on a seed's own problem is accepted only with the seed's answer
    seed_answer = dict(zip(seeds["seed_id"], seeds["target"]))
    assert all(numbers_match(r["target"], seed_answer[r["seed_id"]]) for r in accepted.iter_rows(named=True)
               if r["strategy"] == "answer_augment")
    assert (filtered.filter(pl.col("strategy") == "answer_augment")["reject_reason"] == "answer_mismatch").any()

    ckpt = table(warehouse, spec, "student_checkpoint")
    assert set(ckpt["kind"]) == {"causal_lm"} and set(ckpt["variant"]) == {"seeds_only", "synthetic"}
    scores = table(warehouse, spec, "eval_scores")
    assert set(scores["metric"]) == {"numeric_match", "exact_match"}
    assert {"teacher", "student_seeds_only", "student_synthetic"} <= set(scores["model"])
    preds = table(warehouse, spec, "eval_predictions")
    student = preds.filter(pl.col("model") == "student_synthetic")
    assert student.height == table(warehouse, spec, "eval_set").height and student["prediction"].is_not_null().all()
    assert (student["correct"] == [numbers_match(p, t) for p, t in zip(student["prediction"], student["target"])]).all()

    errors = table(warehouse, spec, "student_errors_r1")
    assert errors["prediction"].is_not_null().all() and set(errors["seed_id"]) <= set(seeds["seed_id"])
    assert (errors["round"] == 1).all()
    assert set(table(warehouse, spec, "eval_scores_r1")["model"]) == {"student_round_1"}
