"""The whole graph, materialised with Dagster on tiny real review data and the fake teacher."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance

from spec_helpers import DATA, write_spec
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.spec import load_spec

TABLE_COLUMNS = {
    "seeds": {"seed_id", "input", "target", "source_file", "source_row"},
    "quarantine": {"source_file", "source_row", "reason", "raw"},
    "expansions": {"row_id", "seed_id", "strategy", "sample_idx", "input", "target", "raw_output", "teacher_model",
                   "prompt_hash", "params_hash", "round", "cache_hit", "tokens_in", "tokens_out", "latency_ms", "error"},
    "filtered": {"row_id", "accepted", "reject_reason", "dup_of", "near_dup_of", "embed_dup_of", "contaminated", "contaminated_by",
                 "confidence", "teacher_correct", "filter_config_hash"},
    "train_set": {"row_id", "input", "target", "origin", "seed_id", "round"},
    "student_checkpoint": {"checkpoint_id", "variant", "path", "base_model", "train_set_version", "config_hash", "train_loss", "seconds"},
    "eval_scores": {"model", "metric", "value", "n", "split", "checkpoint_id", "eval_set_version"},
    "eval_predictions": {"model", "eval_id", "prediction", "target", "correct"},
}


@pytest.fixture(scope="module")
def materialised(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("pipeline")
    spec = load_spec(write_spec(tmp_path))
    warehouse = tmp_path / "warehouse"
    log = tmp_path / "calls.log"
    result = run_pipeline(spec, warehouse, call_log=log, instance=DagsterInstance.ephemeral())
    assert result.success
    return spec, warehouse, log


def test_every_table_exists_with_its_columns(materialised) -> None:
    spec, warehouse, _ = materialised
    for name, columns in TABLE_COLUMNS.items():
        df = table(warehouse, spec, name)
        assert columns <= set(df.columns), f"{name} lacks {columns - set(df.columns)}"
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        views = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema='tiny'").fetchall()}
        assert set(TABLE_COLUMNS) | {"lineage", "eval_set"} <= views
        assert con.execute("select count(*) from main.teacher_cache").fetchone()[0] > 0


def test_seeds_plus_quarantine_equal_input_rows(materialised) -> None:
    spec, warehouse, _ = materialised
    n_input = sum(pl.read_csv(DATA / f).height for f in ("seeds.csv", "pool.csv", "test.csv"))
    n_out = sum(table(warehouse, spec, t).height for t in ("seeds", "eval_set", "quarantine"))
    assert n_out == n_input


def test_expansion_counts_and_call_accounting(materialised) -> None:
    spec, warehouse, log = materialised
    seeds = table(warehouse, spec, "seeds")
    exp = table(warehouse, spec, "expansions")
    labelled = seeds.filter(pl.col("target").is_not_null()).height
    # label: every seed once; rephrase: every labelled seed twice
    assert exp.filter(pl.col("strategy") == "label").height == seeds.height
    assert exp.filter(pl.col("strategy") == "rephrase").height == 2 * labelled
    n_eval = table(warehouse, spec, "eval_set").height
    assert calls(log) == exp.height + n_eval  # every call made once: expansions + teacher eval
    assert not exp["cache_hit"].any()


def test_every_train_row_resolves_through_lineage(materialised) -> None:
    spec, warehouse, _ = materialised
    train = table(warehouse, spec, "train_set")
    assert train.filter(pl.col("origin") == "expansion").height > 0
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        lineage = con.execute("select * from tiny.lineage").pl()
    assert lineage.height == train.height
    assert lineage["source_file"].null_count() == 0 and lineage["source_row"].null_count() == 0
    generated = lineage.filter(pl.col("origin") == "expansion")
    assert generated["strategy"].null_count() == 0 and generated["teacher_model"].null_count() == 0
    assert generated["prompt_hash"].null_count() == 0


def test_filtered_accounts_for_every_expansion(materialised) -> None:
    spec, warehouse, _ = materialised
    filtered = table(warehouse, spec, "filtered")
    assert filtered.height == table(warehouse, spec, "expansions").height
    assert (filtered["accepted"] == filtered["reject_reason"].is_null()).all()
    # teacher labels of already-labelled seeds measure the teacher and never become training rows
    known = filtered.filter(pl.col("teacher_correct").is_not_null())
    assert known.height == 12 and not known["accepted"].any()


def test_eval_scores_cover_teacher_and_both_students(materialised) -> None:
    spec, warehouse, _ = materialised
    scores = table(warehouse, spec, "eval_scores")
    assert {"teacher", "student_seeds_only", "student_synthetic"} <= set(scores["model"])
    assert set(scores["metric"]) == {"accuracy", "macro_f1"}
    assert scores["value"].is_between(0, 1).all() and (scores["n"] == 12).all()


def test_teacher_errors_become_rows_not_crashes(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    warehouse = tmp_path / "warehouse"
    # every prompt about coffee fails; the run must still succeed with error rows
    result = run_pipeline(spec, warehouse, fail_marker="coffee")
    assert result.success
    exp = table(warehouse, spec, "expansions")
    failed = exp.filter(pl.col("error").is_not_null())
    assert failed.height > 0 and failed["error"].str.contains("injected failure").all()
    filtered = table(warehouse, spec, "filtered")
    assert filtered.filter(pl.col("row_id").is_in(failed["row_id"].implode()))["reject_reason"].str.starts_with("teacher_error").all()


def test_confident_pool_labels_become_training_rows(tmp_path: Path) -> None:
    # with no precision bar every teacher label of the unlabelled pool is accepted, none as a "duplicate"
    spec = load_spec(write_spec(tmp_path, filters={"confidence": {"min_precision": 0.0, "min_support": 1}}))
    warehouse = tmp_path / "warehouse"
    assert run_pipeline(spec, warehouse).success
    filtered = table(warehouse, spec, "filtered")
    pool_labels = filtered.filter((pl.col("strategy") == "label") & pl.col("teacher_correct").is_null())
    assert pool_labels.height == 16 and pool_labels["accepted"].all()
    train = table(warehouse, spec, "train_set")
    assert train.filter(pl.col("strategy") == "label").height == 16
