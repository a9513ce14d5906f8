"""The judge as assets: judgements between expansions and filtered, its kappa check, its own or the teacher's model."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, materialize

from pipeline_helpers import calls, fake_definitions, table
from spec_helpers import write_math_spec, write_spec
from synth_assets.spec import load_spec

UP_TO_TRAIN_SET = ("seeds", "eval_set", "quarantine", "expansions", "judgements", "filtered", "train_set")


def _materialise(spec, warehouse: Path, log: Path | None = None):
    defs = fake_definitions(spec, warehouse, call_log=log)
    keys = [[spec.name, t] for t in UP_TO_TRAIN_SET]
    return materialize(list(defs.assets), instance=DagsterInstance.get(), resources=defs.resources,
                       selection=AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys))


def test_judge_off_adds_no_asset(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    keys = {k.path[-1] for k in fake_definitions(spec, tmp_path / "wh").resolve_asset_graph().get_all_asset_keys()}
    assert "judgements" not in keys and {"expansions", "filtered"} <= keys


def test_judgements_feed_filtered_and_the_check_reports_kappa(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"confidence": {"min_precision": 0.5, "min_support": 2},
                                                   "judge": {"enabled": True, "min_score": 2, "calibration_seeds": 6,
                                                             "min_kappa": 0.99}}))
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    result = _materialise(spec, warehouse, log)
    assert result.success
    judged = table(warehouse, spec, "judgements")
    filtered = table(warehouse, spec, "filtered")
    assert judged.filter(pl.col("kind") == "calibration").height == 12
    scores = dict(judged.filter(pl.col("kind") == "expansion").select("row_id", "judge_score").iter_rows())
    assert dict(filtered.filter(pl.col("row_id").is_in(list(scores))).select("row_id", "judge_score").iter_rows()) == scores
    assert {"low_judge_score", "judge_error"} <= set(filtered["reject_reason"])  # the fake judge gives 1s and prose
    assert not filtered.filter(pl.col("accepted") & ((pl.col("judge_score") < 2) | pl.col("judge_error").is_not_null())).height

    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "judge_agreement"]
    assert check.severity == AssetCheckSeverity.WARN
    kappa = check.metadata["kappa"].value
    report = result.asset_materializations_for_node(f"{spec.name}__judgements")[0].metadata["agreement"].value
    assert kappa == report["kappa"] and check.passed == (kappa is not None and kappa >= 0.99)

    # a rerun is free: every judge call comes from the teacher cache
    before = calls(log)
    assert _materialise(spec, warehouse, log).success and calls(log) == before


def test_math_pipeline_with_its_own_judge_model(tmp_path: Path) -> None:
    judge_teacher = {"backend": "fake", "model": "judge-model", "batch_size": 4}
    spec = load_spec(write_math_spec(
        tmp_path,
        teacher={"backend": "fake", "model": "fake", "batch_size": 4},
        strategies=[{"name": "answer_augment", "samples": 2}, {"name": "rephrase"}, {"name": "revthink"}],
        filters={"judge": {"enabled": True, "teacher": judge_teacher, "calibration_seeds": 3}},
    ))
    warehouse = tmp_path / "warehouse"
    assert _materialise(spec, warehouse).success
    judged = table(warehouse, spec, "judgements")
    assert set(judged["judge_model"]) == {"judge-model@fake-1"}
    assert set(judged.filter(pl.col("kind") == "calibration")["correct"]) == {True, False}
    filtered = table(warehouse, spec, "filtered")
    assert {"verified", "majority_answer", "agreement", "judge_score", "rationale", "parts"} <= set(filtered.columns)
    # the fake teacher's shuffled words rarely reach the answer: those paths are rejected, none is accepted unverified
    assert "answer_mismatch" in set(filtered["reject_reason"])
    assert not filtered.filter(pl.col("accepted") & ~pl.col("verified")).height
    train = table(warehouse, spec, "train_set")
    assert "rationale" in train.columns
    assert train.filter(pl.col("origin") == "expansion").height == filtered["accepted"].sum()
