"""Sensor and automation conditions react to changed content, never to identical rematerialisation."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetKey, DagsterInstance, build_sensor_context, evaluate_automation_conditions

from spec_helpers import DATA, write_spec
from pipeline_helpers import fake_definitions, run_pipeline
from synth_assets.spec import load_spec


def _spec_with_private_seeds(tmp_path: Path):
    seeds = tmp_path / "seeds.csv"
    shutil.copy(DATA / "seeds.csv", seeds)
    sources = [{"path": str(seeds), "input": "review", "target": "score"}, {"path": str(DATA / "pool.csv"), "input": "review"}]
    return load_spec(write_spec(tmp_path, seeds=sources, schedule="0 3 * * *")), seeds


def test_sensor_fires_on_content_change_only(tmp_path: Path) -> None:
    spec, seeds = _spec_with_private_seeds(tmp_path)
    defs = fake_definitions(spec, tmp_path / "warehouse")
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    instance = DagsterInstance.get()
    first = sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert len(first.run_requests) == 1 and first.run_requests[0].stale_assets_only
    cursor = first.cursor
    seeds.touch()  # a new mtime, same bytes: nothing to do
    again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    assert not again.run_requests and again.skip_message == "seed files unchanged"
    with open(seeds, "a", encoding="utf-8") as fh:
        fh.write("A new favourite snack of mine,great\n")
    changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
    assert len(changed.run_requests) == 1 and changed.cursor != cursor
    assert defs.resolve_schedule_def("tiny_refresh").cron_schedule == "0 3 * * *"


def test_automation_ignores_identical_rematerialisation(tmp_path: Path) -> None:
    spec, seeds = _spec_with_private_seeds(tmp_path)
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.get()
    defs = fake_definitions(spec, warehouse)
    assert run_pipeline(spec, warehouse, instance=instance).success
    result = evaluate_automation_conditions(defs, instance)
    # a second, identical full materialisation: same data versions everywhere
    assert run_pipeline(spec, warehouse, instance=instance).success
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert result.total_requested == 0

    with open(seeds, "a", encoding="utf-8") as fh:
        fh.write("A new favourite snack of mine,great\n")
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    sensor.evaluate_tick(build_sensor_context(instance=instance))  # records the new file version
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert all(result.get_num_requested(AssetKey(["tiny", t])) == 1 for t in ("seeds", "eval_set", "quarantine"))
    assert result.get_num_requested(AssetKey(["tiny", "expansions"])) == 0  # it waits for seeds' new data version
