"""Asset checks run with their assets, in the UI's job and the CLI's runs, and fail on real problems."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from dagster import AssetCheckKey, AssetCheckSeverity, AssetKey, DagsterInstance, build_asset_check_context
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from spec_helpers import DATA, write_spec
from pipeline_helpers import JobRun, run_pipeline, table, tiny_job  # noqa: F401 (tiny_job is a fixture)
from synth_assets.assets.checks import CONTRACTS, build_checks, schema_problems, train_set_problems
from synth_assets.assets.common import Build
from synth_assets.spec import load_spec


def _check_keys(spec, warehouse: Path) -> set[AssetCheckKey]:
    return {key for check in build_checks(Build(spec, warehouse)) for key in check.check_keys}


def test_every_check_runs_with_its_asset_in_the_pipeline_job(tiny_job: JobRun) -> None:
    evaluations = {(e.asset_key, e.check_name): e for e in tiny_job.result.get_asset_check_evaluations()}
    expected = _check_keys(tiny_job.spec, tiny_job.warehouse)
    assert len(expected) == len(CONTRACTS) + 2
    ours = {(k.asset_key, k.name) for k in expected}
    assert ours <= set(evaluations)
    assert {name for _, name in set(evaluations) - ours} == {"no_eval_contamination", "teacher_errors"}  # the checks beside ours
    failed = [f"{k[0].to_user_string()}:{k[1]} {e.description}" for k, e in evaluations.items() if not e.passed]
    assert not failed


def test_acceptance_rate_metadata_matches_the_filtered_table(tiny_job: JobRun) -> None:
    spec, warehouse = tiny_job.spec, tiny_job.warehouse
    [evaluation] = [e for e in tiny_job.result.get_asset_check_evaluations() if e.check_name == "acceptance_rate"]
    filtered = table(warehouse, spec, "filtered")
    # the teacher's labels of already-labelled seeds measure the teacher; they are not candidates
    candidates = filtered.filter(pl.col("teacher_correct").is_null())
    md = {k: v.value for k, v in evaluation.metadata.items()}
    assert md["candidates"] == candidates.height > 0
    assert md["accepted"] == candidates["accepted"].sum()
    assert md["rate"] == round(candidates["accepted"].mean(), 4)
    assert sum(md["reasons"].values()) == filtered.height
    assert md["reasons"]["accepted"] == filtered["accepted"].sum()
    assert evaluation.severity == AssetCheckSeverity.WARN


def test_cli_runs_checks_and_a_band_miss_warns_without_failing_the_run(tmp_path: Path) -> None:
    # the tiny pipeline accepts 60 % of its candidates: a [99 %, 100 %] band must warn
    spec = load_spec(write_spec(tmp_path, checks={"acceptance_rate": [0.99, 1.0]}))
    instance = DagsterInstance.ephemeral()
    assert run_pipeline(spec, tmp_path / "warehouse", instance=instance).success
    keys = _check_keys(spec, tmp_path / "warehouse")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(keys))
    assert set(latest) == keys
    statuses = {k.name: r.status for k, r in latest.items() if k.name != "schema"}
    assert statuses == {"acceptance_rate": AssetCheckExecutionRecordStatus.FAILED,
                        "rows_unique_and_labelled": AssetCheckExecutionRecordStatus.SUCCEEDED}
    evaluation = next(r for k, r in latest.items() if k.name == "acceptance_rate").event.dagster_event.event_specific_data
    assert evaluation.severity == AssetCheckSeverity.WARN and "below [99%, 100%]" in evaluation.description


def test_round_tables_are_checked_too(tmp_path: Path) -> None:
    # the fake teacher's round-1 rephrasings all pass the filters: a band up to 100 % keeps that a pass
    spec = load_spec(write_spec(tmp_path, rounds={"max_rounds": 1, "strategy": {"name": "rephrase", "verify_label": False},
                                                  "min_improvement": 0.0, "uncertain_below": 0.9},
                                checks={"acceptance_rate": [0.05, 1.0]}))
    keys = _check_keys(spec, tmp_path / "warehouse")
    round_keys = {(k.asset_key.path[-1], k.name) for k in keys if k.asset_key.path[-1].endswith("_r1")}
    assert round_keys == {("expansions_r1", "schema"), ("filtered_r1", "schema"), ("filtered_r1", "acceptance_rate"),
                          ("train_set_r1", "schema"), ("train_set_r1", "rows_unique_and_labelled"), ("eval_scores_r1", "schema")}
    instance = DagsterInstance.ephemeral()
    assert run_pipeline(spec, tmp_path / "warehouse", instance=instance).success
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(keys))
    assert set(latest) == keys
    failed = {k.to_user_string(): r.event.dagster_event.event_specific_data.description for k, r in latest.items()
              if r.status != AssetCheckExecutionRecordStatus.SUCCEEDED}
    assert not failed


def test_schema_problems_name_missing_and_mistyped_columns() -> None:
    contract = CONTRACTS["train_set"]
    good = pl.DataFrame(schema=contract).with_columns(pl.lit("x").alias("extra"))
    assert schema_problems(good.schema, contract) == []
    bad = good.drop("origin").with_columns(pl.col("round").cast(pl.String))
    problems = schema_problems(bad.schema, contract)
    assert problems == ["missing column 'origin' (String)", "column 'round' is String, expected Int64"]


def test_schema_check_fails_with_error_severity_on_a_broken_table(tiny_job: JobRun, tmp_path: Path) -> None:
    # the check reads the table's file itself (its schema, not its rows): a warehouse holding a broken train_set
    warehouse = tmp_path / "warehouse"
    (warehouse / tiny_job.spec.name).mkdir(parents=True)
    table(tiny_job.warehouse, tiny_job.spec, "train_set").drop("seed_id").write_parquet(
        warehouse / tiny_job.spec.name / "train_set.parquet")
    [check] = [c for c in build_checks(Build(tiny_job.spec, warehouse))
               if {(k.asset_key.path[-1], k.name) for k in c.check_keys} == {("train_set", "schema")}]
    result = check(build_asset_check_context())
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    assert "seed_id" in result.description


def test_train_set_problems_find_duplicates_and_unknown_labels(tiny_job: JobRun) -> None:
    train = table(tiny_job.warehouse, tiny_job.spec, "train_set")
    assert train_set_problems(train, tiny_job.spec.labels) == {
        "duplicate_row_ids": 0, "duplicate_examples": [], "unknown_label_rows": 0, "unknown_labels": {}}
    first = train.head(1)
    broken = pl.concat([train, first, first.with_columns(pl.lit("meh").alias("target"), pl.lit("new").alias("row_id")),
                        first.with_columns(pl.lit(None, pl.String).alias("target"), pl.lit("new2").alias("row_id"))])
    found = train_set_problems(broken, tiny_job.spec.labels)
    assert found["duplicate_row_ids"] == 1 and found["duplicate_examples"] == [first["row_id"][0]]
    assert found["unknown_label_rows"] == 2 and found["unknown_labels"] == {"(null)": 1, "meh": 1}


def test_acceptance_rate_skips_when_every_row_is_a_labelled_seed(tmp_path: Path) -> None:
    # a valid spec: the teacher labels only labelled seeds, which measure it; nothing is there to accept
    spec = load_spec(write_spec(tmp_path, seeds=[{"path": str(DATA / "seeds.csv"), "input": "review", "target": "score"}],
                                strategies=[{"name": "label"}]))
    instance = DagsterInstance.ephemeral()
    assert run_pipeline(spec, tmp_path / "warehouse", instance=instance).success
    key = AssetCheckKey(AssetKey([spec.name, "filtered"]), "acceptance_rate")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    evaluation = record.event.dagster_event.event_specific_data
    n = table(tmp_path / "warehouse", spec, "filtered").height
    assert record.status == AssetCheckExecutionRecordStatus.SUCCEEDED and evaluation.metadata["skipped"].value is True
    assert evaluation.description == (f"skipped: no candidate rows: all {n} rows are the teacher's labels of labelled "
                                      "seeds, which measure the teacher and are not new training data")


def test_teacher_errors_passes_when_every_call_answered(tiny_job: JobRun) -> None:
    [evaluation] = [e for e in tiny_job.result.get_asset_check_evaluations() if e.check_name == "teacher_errors"]
    sent = table(tiny_job.warehouse, tiny_job.spec, "expansions").height
    assert evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.description == f"all {sent} teacher calls answered"
    assert {k: v.value for k, v in evaluation.metadata.items()}["failed_calls"] == 0
