"""`synth export`: the train set leaves the warehouse with every row and its lineage intact."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pipeline_helpers import JobRun, table, tiny_job  # noqa: F401 (tiny_job is a fixture)
from synth_assets.cli import main
from synth_assets.hashing import frame_hash

LINEAGE = ["source_file", "source_row", "strategy", "sample_idx", "teacher_model", "prompt_hash", "cache_key"]


def _export(run: JobRun, out: Path, fmt: str, *extra: str) -> dict:
    assert main(["export", "--warehouse", str(run.warehouse), "--pipeline", run.spec.name,
                 "--format", fmt, "--out", str(out), *extra]) == 0
    return json.loads((out / "manifest.json").read_text())


def test_jsonl_round_trips_train_rows_with_lineage(tiny_job: JobRun, tmp_path: Path) -> None:
    manifest = _export(tiny_job, tmp_path, "jsonl", "--include-filtered")
    train = table(tiny_job.warehouse, tiny_job.spec, "train_set")
    exported = pl.read_ndjson(tmp_path / "train_set.jsonl")
    assert manifest["tables"]["train_set"] == {
        "path": "train_set.jsonl", "rows": train.height, "columns": exported.columns, "data_version": frame_hash(train)}
    # the rows a student sees, unchanged
    keep = ["row_id", "input", "target", "origin", "seed_id", "round"]
    assert exported.select(keep).sort("row_id").equals(train.select(keep).sort("row_id"))
    # every row traces to its seed file row; generated rows to the exact teacher call
    seeds = table(tiny_job.warehouse, tiny_job.spec, "seeds").select("seed_id", "source_file", "source_row")
    assert exported.select("seed_id", "source_file", "source_row").join(seeds, on="seed_id", how="anti").height == 0
    assert exported["source_file"].null_count() == 0 and exported["source_row"].null_count() == 0
    generated = exported.filter(pl.col("origin") == "expansion")
    assert generated.height > 0 and generated.select(LINEAGE).null_count().sum_horizontal().item() == 0
    expansions = table(tiny_job.warehouse, tiny_job.spec, "expansions")
    calls = ["row_id", "strategy", "sample_idx", "teacher_model", "prompt_hash", "cache_key"]
    assert generated.select(calls).join(expansions.select(calls), on=calls, how="anti").height == 0


def test_jsonl_filtered_matches_the_table(tiny_job: JobRun, tmp_path: Path) -> None:
    _export(tiny_job, tmp_path, "jsonl", "--include-filtered")
    filtered = table(tiny_job.warehouse, tiny_job.spec, "filtered")
    exported = pl.read_ndjson(tmp_path / "filtered.jsonl", schema=filtered.schema)
    assert exported.equals(filtered)


def test_hf_dataset_holds_the_same_rows_as_jsonl(tiny_job: JobRun, tmp_path: Path) -> None:
    import datasets  # the `export` extra; part of `dev`
    manifest = _export(tiny_job, tmp_path / "hf", "hf")
    _export(tiny_job, tmp_path / "jsonl", "jsonl")
    assert list(manifest["tables"]) == ["train_set"] and not (tmp_path / "hf" / "filtered").exists()
    loaded = datasets.load_from_disk(str(tmp_path / "hf" / "train_set"))
    as_jsonl = pl.read_ndjson(tmp_path / "jsonl" / "train_set.jsonl")
    assert loaded.num_rows == manifest["tables"]["train_set"]["rows"]
    assert loaded.to_polars().equals(as_jsonl.cast(loaded.to_polars().schema))


def test_export_names_a_missing_pipeline_or_table(tiny_job: JobRun, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["export", "--warehouse", str(tiny_job.warehouse), "--out", str(tmp_path / "out")]
    assert main([*args, "--pipeline", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no pipeline 'nope'" in err and "['tiny']" in err
    empty = tmp_path / "warehouse"
    (empty / "tiny").mkdir(parents=True)
    assert main(["export", "--warehouse", str(empty), "--pipeline", "tiny", "--out", str(tmp_path / "out")]) == 2
    assert "train_set.parquet does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
