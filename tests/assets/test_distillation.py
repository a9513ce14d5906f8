"""Soft labels and confidence weights from the spec to the student: train_set columns, checkpoint keys, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from pipeline_helpers import JobRun, fake_definitions, table, tiny_job  # noqa: F401 (tiny_job is a fixture)
from spec_helpers import write_spec
from synth_assets.assets.common import Build
from synth_assets.assets.student import training_inputs
from synth_assets.assets.train_set import DISTILL_SCHEMA, TRAIN_SCHEMA
from synth_assets.filters.confidence import teacher_probs
from synth_assets.filters.teacher_labels import teacher_calibration
from synth_assets.hashing import frame_hash
from synth_assets.spec import load_spec
from synth_assets.storage.checkpoints import checkpoint_key
from synth_assets.training import TrainConfig

SOFT = {"kind": "tfidf_logreg", "distill": {"soft_labels": True, "temperature": 2.0}}
WEIGHT = {"confidence": {"min_precision": 0.5, "min_support": 2, "mode": "weight"}}


def _rows(probs: list[list[float]] | None = None, weights: list[float] | None = None) -> pl.DataFrame:
    rows = pl.DataFrame({"input": ["a fine tea", "awful yeast", "great coffee"], "target": ["great", "other", "great"],
                         "origin": ["seed", "seed", "expansion"]})
    if probs is not None:
        rows = rows.with_columns(pl.Series("target_probs", probs, DISTILL_SCHEMA["target_probs"]))
    if weights is not None:
        rows = rows.with_columns(pl.Series("weight", weights, pl.Float64))
    return rows


ONE_HOT = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
TEACHER = [[1.0, 0.0], [0.0, 1.0], [0.7, 0.3]]


def _key(tmp_path: Path, rows: pl.DataFrame, **sections) -> str:
    spec = load_spec(write_spec(tmp_path, **sections))
    return training_inputs(Build(spec, tmp_path / "warehouse"), rows).key


def _hard_key(rows: pl.DataFrame) -> str:
    """Today's key, built by hand: the (input, target) frame, sorted, and the plain TF-IDF config."""
    config = TrainConfig(kind="tfidf_logreg")
    return checkpoint_key(frame_hash(rows.select("input", "target").sort("input", "target")), config.as_dict(), config.base_model)


def test_a_hard_label_key_is_unchanged(tmp_path: Path) -> None:
    assert _key(tmp_path, _rows()) == _hard_key(_rows())


def test_soft_targets_change_the_key_one_hot_rows_do_not(tmp_path: Path) -> None:
    hard = _hard_key(_rows())
    soft = _key(tmp_path, _rows(TEACHER), student=SOFT)
    assert soft != hard
    # the seeds_only variant: every target one-hot, every weight 1 -> the hard-label key, reused across specs
    assert _key(tmp_path, _rows(ONE_HOT, [1.0, 1.0, 1.0]), student=SOFT, filters=WEIGHT) == hard
    hotter = {**SOFT, "distill": {"soft_labels": True, "temperature": 4.0}}
    assert _key(tmp_path, _rows(TEACHER), student=hotter) != soft  # the config carries T and alpha
    other = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.4]]
    assert _key(tmp_path, _rows(other), student=SOFT) != soft


def test_weights_change_the_key(tmp_path: Path) -> None:
    unweighted = _key(tmp_path, _rows(weights=[1.0, 1.0, 1.0]), filters=WEIGHT)
    weighted = _key(tmp_path, _rows(weights=[1.0, 1.0, 0.4]), filters=WEIGHT)
    assert unweighted == _hard_key(_rows()) and weighted != unweighted
    assert _key(tmp_path, _rows(weights=[1.0, 1.0, 0.5]), filters=WEIGHT) not in {weighted, unweighted}
    assert _key(tmp_path, _rows(TEACHER, [1.0, 1.0, 0.4]), student=SOFT, filters=WEIGHT) not in {weighted, unweighted}


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory) -> JobRun:
    """The tiny pipeline with a soft-label TF-IDF student and confidence weighting, run through its job."""
    tmp = tmp_path_factory.mktemp("distilled")
    spec = load_spec(write_spec(tmp, student=SOFT, filters=WEIGHT))
    instance = DagsterInstance.ephemeral()
    result = fake_definitions(spec, tmp / "warehouse").resolve_job_def(f"{spec.name}_all").execute_in_process(
        instance=instance, raise_on_error=False)
    assert result.success
    return JobRun(spec, tmp / "warehouse", result, instance)


def test_train_set_carries_soft_targets_and_weights(distilled: JobRun) -> None:
    spec, warehouse = distilled.spec, distilled.warehouse
    train = table(warehouse, spec, "train_set")
    assert train.schema == pl.Schema({**TRAIN_SCHEMA, **DISTILL_SCHEMA})
    probs = train["target_probs"].to_list()
    assert all(len(p) == len(spec.labels) and sum(p) == pytest.approx(1.0) for p in probs)
    # aligned with spec.labels: the target is the most likely label of every row
    assert all(spec.labels[p.index(max(p))] == t for p, t in zip(probs, train["target"]))
    seeds = train.filter(pl.col("origin") == "seed")
    assert seeds.height > 0 and all(p == [float(label == t) for label in spec.labels]
                                    for p, t in zip(seeds["target_probs"].to_list(), seeds["target"]))
    assert (seeds["weight"] == 1.0).all()
    rephrased = train.filter(pl.col("strategy") == "rephrase")  # the seed's label, never checked by the teacher
    assert rephrased.height > 0 and (rephrased["weight"] == 1.0).all()
    assert all(max(p) == 1.0 for p in rephrased["target_probs"].to_list())


def test_teacher_rows_learn_the_calibrated_distribution_at_t(distilled: JobRun) -> None:
    spec, warehouse = distilled.spec, distilled.warehouse
    labelled = table(warehouse, spec, "train_set").filter(pl.col("strategy") == "label")
    expansions = table(warehouse, spec, "expansions")
    filtered = table(warehouse, spec, "filtered")
    assert labelled.height > 0
    # the filters kept every teacher label (weight mode): none was rejected for its margin
    assert filtered.filter(pl.col("reject_reason") == "low_confidence").height == 0
    calibration = teacher_calibration(expansions, table(warehouse, spec, "seeds"), spec)
    scores = dict(expansions.select("row_id", "label_scores").iter_rows())
    weights = dict(filtered.select("row_id", "confidence_weight").iter_rows())
    for row in labelled.iter_rows(named=True):
        expected = teacher_probs(scores[row["row_id"]], spec.labels, calibration.correction, temperature=2.0)
        assert row["target_probs"] == pytest.approx(expected)
        assert row["weight"] == weights[row["row_id"]] and 0.0 < row["weight"] < 1.0


def test_students_train_soft_and_the_baseline_keeps_its_hard_key(distilled: JobRun) -> None:
    spec, warehouse = distilled.spec, distilled.warehouse
    checkpoints = {r["variant"]: r for r in table(warehouse, spec, "student_checkpoint").iter_rows(named=True)}
    seeds = table(warehouse, spec, "train_set").filter(pl.col("origin") == "seed")
    assert checkpoints["seeds_only"]["checkpoint_id"] == _hard_key(seeds)
    manifest = json.loads((Path(checkpoints["synthetic"]["path"]).parent / "manifest.json").read_text())
    assert manifest["config"]["soft_labels"] is True and manifest["config"]["temperature"] == 2.0
    assert checkpoints["synthetic"]["n_rows"] == table(warehouse, spec, "train_set").height
    checks = {e.check_name: e.passed for e in distilled.result.get_asset_check_evaluations()
              if e.asset_key.path[-1] == "train_set"}
    assert checks == {"schema": True, "rows_unique_and_labelled": True, "no_eval_contamination": True}


def test_export_writes_the_soft_targets_and_weights(distilled: JobRun, tmp_path: Path) -> None:
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "synth_assets.cli", "export", "--warehouse", str(distilled.warehouse),
                           "--pipeline", distilled.spec.name, "--format", "jsonl", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    exported = pl.read_ndjson(out / "train_set.jsonl")
    train = table(distilled.warehouse, distilled.spec, "train_set")
    assert {"target_probs", "weight", "source_file", "cache_key"} <= set(exported.columns)
    assert exported.height == train.height
    joined = exported.select("row_id", "target_probs", "weight").sort("row_id")
    assert joined.equals(train.select("row_id", "target_probs", "weight").sort("row_id"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"]["train_set"]["data_version"] == frame_hash(train)


def test_with_both_off_train_set_is_todays_table(tiny_job: JobRun) -> None:
    train = table(tiny_job.warehouse, tiny_job.spec, "train_set")
    assert train.schema == pl.Schema(TRAIN_SCHEMA)
    assert "confidence_weight" not in table(tiny_job.warehouse, tiny_job.spec, "filtered").columns


def test_a_rounds_pool_labels_are_soft_and_weighted_like_round_0s(tmp_path: Path) -> None:
    from pipeline_helpers import run_pipeline

    spec = load_spec(write_spec(tmp_path, student=SOFT, filters=WEIGHT,
                                strategies=[{"name": "label", "pool_rows": 3}, {"name": "rephrase"}],
                                rounds={"max_rounds": 1, "strategy": None, "active": {"pool_rows": 2, "selection": "random"}}))
    warehouse = tmp_path / "warehouse"
    assert run_pipeline(spec, warehouse, instance=DagsterInstance.ephemeral()).success
    train0, train1 = table(warehouse, spec, "train_set"), table(warehouse, spec, "train_set_r1")
    assert train1.head(train0.height).equals(train0) and train1.schema == train0.schema
    added = train1.filter(pl.col("round") == 1)
    assert added.height > 0 and (added["strategy"] == "label").all()
    # round 1 reads its labels with the calibration measured_labels used: its rows plus round 0's label rows
    expansions0, expansions1 = table(warehouse, spec, "expansions"), table(warehouse, spec, "expansions_r1")
    calibration = teacher_calibration(expansions1, table(warehouse, spec, "seeds"), spec, reference=expansions0)
    scores = dict(expansions1.select("row_id", "label_scores").iter_rows())
    weights = dict(table(warehouse, spec, "filtered_r1").select("row_id", "confidence_weight").iter_rows())
    for row in added.iter_rows(named=True):
        assert row["target_probs"] == pytest.approx(teacher_probs(scores[row["row_id"]], spec.labels, calibration.correction, 2.0))
        assert row["weight"] == weights[row["row_id"]]
