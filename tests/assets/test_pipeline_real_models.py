"""The whole graph on the embedded models: SmolLM2 teacher, MiniLM student, tiny real data."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from spec_helpers import write_spec
from synth_assets.factory import build_definitions, observe_job_name
from synth_assets.runs import materialize_all
from synth_assets.spec import load_spec


@pytest.mark.slow
def test_end_to_end_with_embedded_models(tmp_path: Path) -> None:
    spec = load_spec(write_spec(
        tmp_path,
        teacher={"backend": "transformers", "model": "embedded:smollm2-135m-instruct", "batch_size": 8, "max_new_tokens": 40},
        strategies=[{"name": "label"}, {"name": "rephrase", "samples": 1}],
        student={"kind": "encoder_classifier", "epochs": 2, "max_length": 64, "learning_rate": 1e-4},
    ))
    warehouse = tmp_path / "warehouse"
    defs = build_definitions([spec], warehouse)
    instance = DagsterInstance.ephemeral()
    defs.resolve_job_def(observe_job_name(spec.name)).execute_in_process(instance=instance)
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources, selection=AssetSelection.groups(spec.name))
    assert result.success

    exp = pl.read_parquet(warehouse / "tiny" / "expansions.parquet")
    labels = exp.filter(pl.col("strategy") == "label")
    assert labels["error"].null_count() == labels.height
    assert labels["target"].is_in(["great", "other"]).all() and labels["confidence"].min() >= 0
    assert exp["teacher_model"][0].startswith("embedded:smollm2-135m-instruct@")
    rephrased = exp.filter((pl.col("strategy") == "rephrase") & pl.col("error").is_null())
    assert rephrased.height >= 6 and (rephrased["tokens_out"] > 0).all()

    ckpt = pl.read_parquet(warehouse / "tiny" / "student_checkpoint.parquet")
    assert set(ckpt["variant"]) == {"seeds_only", "synthetic"}
    assert all(Path(p).is_dir() for p in ckpt["path"])
    scores = pl.read_parquet(warehouse / "tiny" / "eval_scores.parquet")
    assert scores.filter(pl.col("model") == "student_synthetic").height == 2

    # nothing changed: a forced full rerun is served by the teacher cache and the checkpoint cache
    checkpoints = sorted(p.name for p in (warehouse / "_checkpoints").iterdir())
    assert materialize_all(defs, [spec.name], instance).success
    again = pl.read_parquet(warehouse / "tiny" / "expansions.parquet")
    assert again["cache_hit"].all() and again.drop("cache_hit").equals(exp.drop("cache_hit"))
    assert sorted(p.name for p in (warehouse / "_checkpoints").iterdir()) == checkpoints
    assert pl.read_parquet(warehouse / "tiny" / "eval_scores.parquet").equals(scores)


@pytest.mark.slow
def test_hard_negatives_and_active_rounds_with_the_embedded_teacher(tmp_path: Path) -> None:
    spec = load_spec(write_spec(
        tmp_path,
        teacher={"backend": "transformers", "model": "embedded:smollm2-135m-instruct", "batch_size": 8, "max_new_tokens": 48},
        strategies=[{"name": "label", "pool_rows": 6}, {"name": "hard_negative"}],
        rounds={"max_rounds": 1, "strategy": {"name": "hard_negative"}, "uncertain_below": 0.9,
                "active": {"pool_rows": 4}},
        filters={"confidence": {"min_precision": 0.5, "min_support": 2}, "student_aware": {"enabled": True}},
    ))
    warehouse = tmp_path / "warehouse"
    defs = build_definitions([spec], warehouse)
    assert materialize_all(defs, [spec.name], DagsterInstance.ephemeral()).success

    exp = pl.read_parquet(warehouse / "tiny" / "expansions.parquet")
    hard = exp.filter(pl.col("strategy") == "hard_negative")
    assert hard.height == 12  # one rewrite per labelled seed
    checked = hard.filter(pl.col("error").is_null())
    # every parsed rewrite was labelled by the real teacher: scores for both label words, margin >= 0
    assert checked["label_scores"].is_not_null().all() and (checked["confidence"] >= 0).all()
    assert (checked["target"] != checked["seed_id"].replace_strict(dict(zip(*_seed_targets(warehouse))))).all()
    filtered = pl.read_parquet(warehouse / "tiny" / "filtered.parquet").filter(pl.col("strategy") == "hard_negative")
    kept = filtered.filter(pl.col("accepted"))
    assert (kept["teacher_label"] == kept["target"]).all()
    assert set(filtered["reject_reason"].drop_nulls().str.replace(r":.*", "")) <= {
        "teacher_error", "invalid", "teacher_disagrees", "low_confidence", "duplicate", "near_duplicate"}

    picked = pl.read_parquet(warehouse / "tiny" / "active_pool_r1.parquet")
    labels1 = pl.read_parquet(warehouse / "tiny" / "expansions_r1.parquet").filter(pl.col("strategy") == "label")
    assert picked.height == 4 and set(labels1["seed_id"]) == set(picked["seed_id"]) and labels1["error"].is_null().all()


def _seed_targets(warehouse: Path) -> tuple[list[str], list[str]]:
    seeds = pl.read_parquet(warehouse / "tiny" / "seeds.parquet").filter(pl.col("target").is_not_null())
    return seeds["seed_id"].to_list(), seeds["target"].to_list()
