"""The train_set contamination check, through a real Dagster run of the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterInstance

from spec_helpers import DATA, write_spec
from pipeline_helpers import run_pipeline, table
from synth_assets.assets.contamination import describe, offending_rows
from synth_assets.spec import PipelineSpec, load_spec


def _spec(tmp_path: Path, extra_seed: str | None) -> PipelineSpec:
    seeds = pl.read_csv(DATA / "seeds.csv")
    if extra_seed is not None:
        seeds = pl.concat([seeds, pl.DataFrame({"review": [extra_seed], "score": ["great"]})])
    seeds.write_csv(tmp_path / "seeds.csv")
    return load_spec(write_spec(tmp_path, seeds=[{"path": str(tmp_path / "seeds.csv"), "input": "review", "target": "score"},
                                                 {"path": str(DATA / "pool.csv"), "input": "review"}]))


def _check_record(instance: DagsterInstance, spec: PipelineSpec):
    key = AssetCheckKey(AssetKey([spec.name, "train_set"]), "no_eval_contamination")
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    assert records, "the check did not run"
    return records[0].event.dagster_event.event_specific_data


def test_check_passes_on_clean_seeds(tmp_path: Path) -> None:
    spec = _spec(tmp_path, None)
    instance = DagsterInstance.ephemeral()
    assert run_pipeline(spec, tmp_path / "warehouse", instance=instance).success
    evaluation = _check_record(instance, spec)
    assert evaluation.passed and evaluation.metadata["contaminated_rows"].value == 0


def test_check_fails_and_blocks_training_when_a_seed_holds_an_eval_item(tmp_path: Path) -> None:
    eval_item = pl.read_csv(DATA / "test.csv")["review"][0]
    planted = "Bought two bags. " + eval_item.replace("will do", "would do").upper() + " Five stars from us."
    spec = _spec(tmp_path, planted)
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.ephemeral()
    assert not run_pipeline(spec, warehouse, instance=instance).success

    evaluation = _check_record(instance, spec)
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    seeds = table(warehouse, spec, "seeds")
    planted_id = seeds.filter(pl.col("input") == planted)["seed_id"].to_list()
    assert evaluation.metadata["row_ids"].value == planted_id and evaluation.metadata["by_origin"].value == {"seed": 1}
    # the description (what a failed run prints) names the file row, the eval item and the shared words
    row = seeds.filter(pl.col("input") == planted)["source_row"].item()
    eval_id = table(warehouse, spec, "eval_set")["eval_id"][0]
    lines = evaluation.description.splitlines()
    assert lines[0].startswith("1 train_set row contains an eval item")
    assert lines[1] == f'- seeds.csv row {row}: eval item {eval_id}, shared text "do just about anything for them highly recommend em"'
    # blocking: the students never trained on the leaking train set
    assert not (warehouse / spec.name / "student_checkpoint.parquet").exists()


def test_description_names_the_first_rows_and_counts_the_rest() -> None:
    seeds = pl.DataFrame({"seed_id": ["s1", "s2", "s3", "s4"], "source_file": ["/data/intents.csv"] * 4, "source_row": [2, 3, 4, 5]})
    eval_set = pl.DataFrame({"eval_id": ["e7"], "input": ["What is the forecast for Niger?"]})
    texts = ["what is the forecast for niger please", "Rephrased: What is the forecast for Niger?",
             "WHAT IS THE FORECAST FOR NIGER", "What is the forecast for Niger"]
    hits = pl.DataFrame({"row_id": ["s1", "x9", "s3", "s4"], "origin": ["seed", "expansion", "seed", "seed"],
                         "strategy": [None, "rephrase", None, None], "seed_id": ["s1", "s2", "s3", "s4"],
                         "contaminated_by": ["e7"] * 4, "input": texts})
    text = describe(offending_rows(hits, seeds, eval_set))
    assert text.splitlines()[1:] == [
        '- intents.csv row 2: eval item e7, shared text "what is the forecast for niger"',
        '- expansion x9 (rephrase of intents.csv row 3): eval item e7, shared text "what is the forecast for niger"',
        '- intents.csv row 4: eval item e7, shared text "what is the forecast for niger"',
        "- ... and 1 more (metadata: offending, row_ids)",
    ]
