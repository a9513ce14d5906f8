"""What reruns when: teacher calls and training runs counted for each kind of change."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from spec_helpers import DATA, write_spec
from pipeline_helpers import calls, fake_definitions, run_pipeline, table
from synth_assets.runs import observe_and_states
from synth_assets.spec import load_spec


def _checkpoints(warehouse: Path) -> int:
    return len([p for p in (warehouse / "_checkpoints").iterdir() if not p.name.startswith(".")])


@pytest.fixture
def setup(tmp_path: Path):
    """A first full run on a private copy of the seed file, so tests can edit it."""
    seeds = tmp_path / "seeds.csv"
    shutil.copy(DATA / "seeds.csv", seeds)
    sources = [{"path": str(seeds), "input": "review", "target": "score"}, {"path": str(DATA / "pool.csv"), "input": "review"}]
    spec_file = write_spec(tmp_path, seeds=sources)
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    assert run_pipeline(load_spec(spec_file), warehouse, call_log=log).success
    return tmp_path, spec_file, warehouse, log


def _stale(spec, warehouse: Path) -> list[str]:
    states = observe_and_states(fake_definitions(spec, warehouse), [spec.name], DagsterInstance.get())
    return [s.key.path[-1] for s in states if s.needs_run]


def test_no_change_rerun_makes_no_calls_and_selects_nothing(setup) -> None:
    _, spec_file, warehouse, log = setup
    spec = load_spec(spec_file)
    first_calls, ckpts = calls(log), _checkpoints(warehouse)
    assert _stale(spec, warehouse) == []
    outcome = run_pipeline(spec, warehouse, call_log=log, stale_only=True)
    assert outcome.success and outcome.materialised == 0
    # even a forced full rematerialisation pays nothing: row cache and checkpoint cache
    assert run_pipeline(spec, warehouse, call_log=log).success
    assert calls(log) == first_calls and _checkpoints(warehouse) == ckpts
    assert table(warehouse, spec, "expansions")["cache_hit"].all()


def test_new_seed_rows_cost_only_their_own_calls(setup) -> None:
    tmp_path, spec_file, warehouse, log = setup
    before, ckpts = calls(log), _checkpoints(warehouse)
    with open(tmp_path / "seeds.csv", "a", encoding="utf-8") as fh:
        fh.write('"Best hot sauce I have ever tasted, ordering a case.",great\n')
    spec = load_spec(spec_file)
    assert _stale(spec, warehouse) == ["eval_set", "quarantine", "seeds"]
    assert run_pipeline(spec, warehouse, call_log=log, stale_only=True).success
    # 1 label call + 2 rephrase samples for the new seed; the eval set is untouched
    assert calls(log) - before == 3
    exp = table(warehouse, spec, "expansions")
    assert (~exp["cache_hit"]).sum() == 3
    # train_set changed, so both students retrain into new checkpoints (the old ones stay)
    assert _checkpoints(warehouse) == ckpts + 2


def test_filter_change_reruns_filters_not_the_teacher(setup) -> None:
    tmp_path, spec_file, warehouse, log = setup
    before = calls(log)
    spec = load_spec(write_spec(tmp_path, seeds=load_spec(spec_file).model_dump()["seeds"],
                                filters={"confidence": {"min_precision": 0.5, "min_support": 2}, "validity": {"max_chars": 300}}))
    stale = _stale(spec, warehouse)
    assert stale == ["filtered"]
    assert run_pipeline(spec, warehouse, call_log=log, stale_only=True).success
    assert calls(log) == before
    assert table(warehouse, spec, "filtered")["reject_reason"].str.contains("longer than 300").any()


def test_prompt_change_regenerates_only_that_strategy(setup) -> None:
    tmp_path, spec_file, warehouse, log = setup
    before = calls(log)
    old = table(warehouse, load_spec(spec_file), "expansions")
    spec = load_spec(write_spec(tmp_path, seeds=load_spec(spec_file).model_dump()["seeds"],
                                strategies=[{"name": "label"}, {"name": "rephrase", "samples": 2, "prompt": "Say it differently: {input}",
                                                                 "verify_label": False}]))  # as the tiny spec: only the prompt changes
    assert _stale(spec, warehouse)[0] == "expansions"
    assert run_pipeline(spec, warehouse, call_log=log, stale_only=True).success
    n_rephrase = old.filter(pl.col("strategy") == "rephrase").height
    assert calls(log) - before == n_rephrase
    new = table(warehouse, spec, "expansions")
    assert new.filter(pl.col("strategy") == "label")["cache_hit"].all()
    assert not new.filter(pl.col("strategy") == "rephrase")["cache_hit"].any()


def test_checkpoints_are_reused_after_downstream_tables_are_deleted(setup) -> None:
    _, spec_file, warehouse, log = setup
    spec = load_spec(spec_file)
    ckpts = _checkpoints(warehouse)
    for name in ("student_checkpoint", "eval_scores", "eval_predictions"):
        (warehouse / spec.name / f"{name}.parquet").unlink()
    assert run_pipeline(spec, warehouse, call_log=log).success
    assert _checkpoints(warehouse) == ckpts
    assert table(warehouse, spec, "eval_scores").height > 0
