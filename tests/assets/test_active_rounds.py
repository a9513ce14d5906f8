"""PGKD-style rounds materialised with Dagster: the student picks the pool rows the teacher labels next."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance

from spec_helpers import write_spec
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.evaluation.students import student_outputs
from synth_assets.training.checkpoint import Checkpoint
from synth_assets.evaluation.uncertainty import most_uncertain, uncertainty
from synth_assets.spec import load_spec


# random also runs without error-driven expansion: the rounds then only label the pool
@pytest.mark.parametrize(("selection", "error_strategy"), [("margin", {"name": "rephrase", "verify_label": False}), ("random", None)])
def test_rounds_label_the_pool_rows_the_student_is_least_sure_of(tmp_path: Path, selection: str, error_strategy: dict | None) -> None:
    spec = load_spec(write_spec(
        tmp_path,
        strategies=[{"name": "label", "pool_rows": 3}, {"name": "rephrase"}],
        rounds={"max_rounds": 2, "strategy": error_strategy, "uncertain_below": 0.9,
                "active": {"pool_rows": 2, "selection": selection}},
        # every teacher label counts as confident: this test is about which rows get labelled
        filters={"confidence": {"min_precision": 0.0, "min_support": 1}, "student_aware": {"enabled": True},
                 "judge": {"enabled": True, "min_score": 1}},
    ))
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    seeds = table(warehouse, spec, "seeds")
    pool_ids = set(seeds.filter(pl.col("target").is_null())["seed_id"])
    labelled0 = set(table(warehouse, spec, "expansions").filter(pl.col("strategy") == "label")["seed_id"]) & pool_ids
    assert labelled0 == set(sorted(pool_ids)[:3])  # round 0: a stable sample of pool_rows

    picked1 = table(warehouse, spec, "active_pool_r1")
    assert picked1.height == 2 and picked1["target"].is_null().all() and (picked1["round"] == 1).all()
    assert not set(picked1["seed_id"]) & labelled0
    # margin: exactly the rows the round-0 student is least sure of, by its own probabilities; random: a stable shuffle
    student = Checkpoint.from_row(table(warehouse, spec, "student_checkpoint").filter(pl.col("variant") == "synthetic").row(0, named=True))
    rest = seeds.filter(pl.col("seed_id").is_in(list(pool_ids - labelled0)))
    answers = student_outputs(spec, student, rest["input"].to_list())
    margins = [uncertainty(p, "margin") for p in answers]
    expected = ([sid for _, sid in sorted(zip(margins, rest["seed_id"]), key=lambda t: (-t[0], t[1]))[:2]] if selection == "margin"
                else [sid for sid, _ in most_uncertain(rest["seed_id"].to_list(), None, "random", 2, "round-1")])
    assert picked1["seed_id"].to_list() == expected and picked1["checkpoint_id"][0] == student.checkpoint_id
    said = dict(zip(rest["seed_id"], [a.label for a in answers]))
    assert picked1["student_prediction"].to_list() == [said[s] for s in expected]  # what the student thought, either way

    exp1 = table(warehouse, spec, "expansions_r1")
    labels1 = exp1.filter(pl.col("strategy") == "label")
    assert set(labels1["seed_id"]) == set(picked1["seed_id"]) and (labels1["round"] == 1).all()
    assert set(exp1["strategy"]) == ({"label", "rephrase"} if error_strategy else {"label"})
    filtered1 = table(warehouse, spec, "filtered_r1")
    # round 0's seed labels measured the teacher, so this round's pool labels are confident
    # (the fake teacher's judge replies are shuffled words, so the judge may still reject them)
    label_verdicts = filtered1.filter(pl.col("strategy") == "label")
    assert label_verdicts["confident"].all() and label_verdicts["min_confidence"].to_list() == [0.0, 0.0]
    assert set(filtered1["reject_reason"].drop_nulls()) <= {"judge_error"}
    assert {"student_prediction", "student_true_prob", "student_knows", "teacher_label", "judge_score"} <= set(filtered1.columns)
    assert filtered1.filter(pl.col("accepted"))["student_knows"].fill_null(False).not_().all()
    judged = table(warehouse, spec, "judgements_r1").filter(pl.col("kind") == "expansion")
    assert set(judged["row_id"]) == set(exp1["row_id"])  # the round's own judge saw every row of the round
    scores = dict(judged.select("row_id", "judge_score").iter_rows())
    assert all(scores[r] == s for r, s in filtered1.select("row_id", "judge_score").iter_rows())
    train1 = table(warehouse, spec, "train_set_r1")
    accepted1 = filtered1.filter(pl.col("accepted"))
    assert set(train1.filter(pl.col("round") == 1)["row_id"]) == set(accepted1["row_id"])

    picked2 = table(warehouse, spec, "active_pool_r2")
    assert picked2.height == 2 and not set(picked2["seed_id"]) & (labelled0 | set(picked1["seed_id"]))

    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        lineage = con.execute("select round, seed_id, teacher_label, accepted from tiny.active_lineage order by round, rank").fetchall()
    assert [(r, s) for r, s, _, _ in lineage] == [(1, s) for s in picked1["seed_id"]] + [(2, s) for s in picked2["seed_id"]]
    assert all(label in ("great", "other") and accepted is not None for _, _, label, accepted in lineage)

    made = calls(log)
    assert run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral()).success
    assert calls(log) == made


def test_round_zero_is_filtered_by_the_seeds_only_student_trained_once(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"confidence": {"min_precision": 0.0, "min_support": 1},
                                                   "student_aware": {"enabled": True, "min_true_prob": 0.5}}))
    warehouse = tmp_path / "warehouse"
    assert run_pipeline(spec, warehouse, instance=DagsterInstance.ephemeral()).success
    filtered = table(warehouse, spec, "filtered")
    candidates = filtered.filter(pl.col("teacher_correct").is_null() & pl.col("student_knows").is_not_null())
    assert candidates.height > 0
    # the verdicts are the seeds-only student's own answers, recomputed here
    baseline = Checkpoint.from_row(table(warehouse, spec, "student_checkpoint").filter(pl.col("variant") == "seeds_only").row(0, named=True))
    answers = student_outputs(spec, baseline, candidates["input"].to_list())
    assert candidates["student_prediction"].to_list() == [a.label for a in answers]
    knows = [a.label == t and a.probs[t] >= 0.5 for a, t in zip(answers, candidates["target"])]
    assert candidates["student_knows"].to_list() == knows and any(knows)
    dropped = filtered.filter(pl.col("reject_reason") == "student_already_right")
    assert dropped.height == sum(knows) and not dropped["accepted"].any()
    # one training: the baseline the filter used is the checkpoint student_checkpoint reused
    assert len(list((warehouse / "_checkpoints").iterdir())) == 2  # seeds_only + synthetic
