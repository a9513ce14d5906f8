"""Error-driven rounds (LLM2LLM) materialised with Dagster: errors → expansions → train set → student, per round."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance

from spec_helpers import write_spec
from synth_assets.cli import print_summary
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.spec import load_spec


def test_two_rounds_grow_the_train_set_from_student_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # the fake teacher's labels are noise: the rounds' rewrites stay unchecked, as the tiny spec's
    rephrase = {"name": "rephrase", "samples": 2, "verify_label": False}
    spec = load_spec(write_spec(tmp_path, rounds={"max_rounds": 2, "strategy": rephrase,
                                                  "min_improvement": 0.0, "uncertain_below": 0.9}))
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    seeds = table(warehouse, spec, "seeds").filter(pl.col("target").is_not_null())
    errors1 = table(warehouse, spec, "student_errors_r1")
    assert errors1.height > 0 and (errors1["round"] == 1).all()
    assert ((errors1["prediction"] != errors1["target"]) | (errors1["true_prob"] < 0.9)).all()
    assert set(errors1["seed_id"]) <= set(seeds["seed_id"])

    exp1 = table(warehouse, spec, "expansions_r1")
    # one row per (error, sample): the strategy ran on exactly the wrongly predicted seeds
    assert exp1.height == errors1.height * 2 and set(exp1["seed_id"]) == set(errors1["seed_id"])
    assert (exp1["round"] == 1).all() and (exp1["strategy"] == "rephrase").all()

    train0, train1 = table(warehouse, spec, "train_set"), table(warehouse, spec, "train_set_r1")
    accepted1 = table(warehouse, spec, "filtered_r1").filter(pl.col("accepted"))
    added = train1.filter(pl.col("round") == 1)
    assert train1.head(train0.height).equals(train0)  # earlier rows kept as they were
    assert added.height > 0 and set(added["row_id"]) <= set(accepted1["row_id"])
    # no text twice: a repeat of an earlier training row teaches the student nothing
    assert train1["input"].str.to_lowercase().str.strip_chars().is_unique().all()

    ckpt1 = table(warehouse, spec, "student_checkpoint_r1")
    assert ckpt1.height == 1 and ckpt1["round"][0] == 1 and ckpt1["n_rows"][0] == train1.height
    scores1 = table(warehouse, spec, "eval_scores_r1")
    assert set(scores1["model"]) == {"student_round_1"} and (scores1["round"] == 1).all()

    # round 2 exists and chains on round 1
    errors2 = table(warehouse, spec, "student_errors_r2")
    assert (errors2["round"] == 2).all() and set(errors2["checkpoint_id"]) <= {ckpt1["checkpoint_id"][0]}
    train2 = table(warehouse, spec, "train_set_r2")
    assert train2.height >= train1.height and set(train1["row_id"]) <= set(train2["row_id"])

    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        by_round = con.execute("select distinct round from tiny.eval_by_round order by 1").fetchall()
        lineage = con.execute("select count(*), count(distinct error_prediction) from tiny.error_lineage where round = 1").fetchone()
    assert [r for (r,) in by_round] == [0, 1, 2]
    assert lineage[0] == train1.filter(pl.col("round") == 1).height

    # `synth summary` shows one line per round and every round's scores
    capsys.readouterr()
    print_summary(warehouse, spec.name)
    shown = capsys.readouterr().out
    assert f"round 1: {errors1.height} student errors, - active pool rows -> {exp1.height} teacher rows" in shown
    assert f"train_set_r1 {train1.height} rows" in shown and "student_round_2" in shown

    # nothing changed: a second run makes no teacher calls and trains nothing
    made = calls(log)
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    assert calls(log) == made
