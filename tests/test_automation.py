"""Sensor, schedule and automation conditions react to changed content, never to identical rematerialisation.

Run requests are executed in process with their selection and tags, as the daemon's run launcher
would; tests/test_daemon.py runs the same triggers under the real daemon.
"""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetKey,
    BetaWarning,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from spec_helpers import DATA, write_spec
from pipeline_helpers import fake_definitions, run_pipeline
from synth_assets.automation import DEFAULT_INTERVAL_S, REFRESH_TAG
from synth_assets.spec import PipelineSpec, load_spec

NEW_SEED = "A new favourite snack of mine,great\n"
NEW_EVAL = "Stale crackers in a torn box; never again,other\n"
FULL_REFRESH = [{"seeds", "eval_set", "quarantine"}, {"expansions"}, {"filtered"}, {"train_set"}, {"student_checkpoint"},
                {"eval_predictions", "eval_scores"}]


def private_spec_path(tmp_path: Path, **overrides) -> Path:
    """The tiny spec on copies of the data next to it (seeds.csv, pool.csv, test.csv), so a test can edit them."""
    for name in ("seeds.csv", "pool.csv", "test.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return write_spec(
        tmp_path, seeds=[{"path": "seeds.csv", "input": "review", "target": "score"}, {"path": "pool.csv", "input": "review"}],
        eval={"path": "test.csv", "input": "review", "target": "score"}, schedule="0 3 * * *", **overrides)


def _private_spec(tmp_path: Path, **overrides) -> PipelineSpec:
    return load_spec(private_spec_path(tmp_path, **overrides))


def _materialised(tmp_path: Path) -> tuple[PipelineSpec, Path, DagsterInstance]:
    """The private spec after a full first run: the state every refresh test starts from."""
    spec, warehouse, instance = _private_spec(tmp_path), tmp_path / "warehouse", DagsterInstance.get()
    assert run_pipeline(spec, warehouse, instance=instance).success
    return spec, warehouse, instance


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def _launch(defs: Definitions, instance: DagsterInstance, request: RunRequest) -> DagsterRun:
    """Run one request of the pipeline's job: its selection, partition and tags."""
    result = defs.resolve_job_def("tiny_all").execute_in_process(
        instance=instance, asset_selection=list(request.asset_selection), partition_key=request.partition_key,
        tags=request.tags, raise_on_error=False)
    return instance.get_run_by_id(result.run_id)


def _after_success(defs: Definitions, instance: DagsterInstance, run: DagsterRun):
    """What the refresh-waves sensor answers to `run` having succeeded."""
    success = next(e for e in instance.all_logs(run.run_id) if e.dagster_event_type == DagsterEventType.RUN_SUCCESS)
    waves = defs.resolve_sensor_def("tiny_refresh_waves")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # repository_def of build_run_status_sensor_context
        context = build_run_status_sensor_context(sensor_name=waves.name, dagster_event=success.dagster_event,
                                                  dagster_instance=instance, dagster_run=run,
                                                  repository_def=defs.get_repository_def())
    return waves(context)


def _schedule_tick(defs: Definitions, instance: DagsterInstance, at: datetime):
    # closed by `with`: an open schedule context leaves its instance's state storage set for later tests
    with build_schedule_context(instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()) as context:
        return defs.resolve_schedule_def("tiny_refresh").evaluate_tick(context)


def _follow(defs: Definitions, instance: DagsterInstance, requests: list[RunRequest]) -> tuple[list[set[str]], SkipReason]:
    """Launch each wave and hand its last run's success to the refresh-waves sensor until it stops; what each wave ran."""
    waves = []
    while True:
        runs = [_launch(defs, instance, r) for r in requests]
        assert all(run.status == DagsterRunStatus.SUCCESS for run in runs)
        waves.append({k.path[-1] + (f"[{r.partition_key}]" if r.partition_key else "") for r in requests for k in r.asset_selection})
        answer = _after_success(defs, instance, runs[-1])
        if isinstance(answer, SkipReason):
            return waves, answer
        requests = answer


def test_sensor_fires_on_content_change_only(tmp_path: Path) -> None:
    spec = _private_spec(tmp_path)
    defs = fake_definitions(spec, tmp_path / "warehouse")
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    assert sensor.minimum_interval_seconds == DEFAULT_INTERVAL_S
    instance = DagsterInstance.get()
    first = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    # nothing materialised yet: the first wave is the ingestion
    assert [{k.path[-1] for k in r.asset_selection} for r in first.run_requests] == [FULL_REFRESH[0]]
    assert first.run_requests[0].tags[REFRESH_TAG].startswith("files-")
    cursor = first.cursor
    (tmp_path / "seeds.csv").touch()  # a new mtime, same bytes: nothing to do
    again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))
    assert not again.run_requests and again.skip_message == "seed files unchanged"
    _append(tmp_path / "seeds.csv", NEW_SEED)
    changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))
    assert len(changed.run_requests) == 1 and changed.cursor != cursor
    assert defs.resolve_schedule_def("tiny_refresh").cron_schedule == "0 3 * * *"


def test_sensor_interval_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SYNTH_SENSOR_INTERVAL_S", "3")
    defs = fake_definitions(_private_spec(tmp_path), tmp_path / "warehouse")
    assert {s.name: s.minimum_interval_seconds for s in defs.sensors} == {"tiny_seed_files_changed": 3, "tiny_refresh_waves": 3}


def test_new_seed_row_refreshes_every_downstream_wave_once(tmp_path: Path) -> None:
    spec, warehouse, instance = _materialised(tmp_path)
    defs = fake_definitions(spec, warehouse)
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    idle = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    assert not idle.run_requests and idle.skip_message == "seed files changed; nothing is stale"

    _append(tmp_path / "seeds.csv", NEW_SEED)
    tick = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=idle.cursor, definitions=defs))
    waves, end = _follow(defs, instance, tick.run_requests)
    # each table after the one it reads, each once; eval waits until the student it scores is final
    assert waves == FULL_REFRESH
    assert end.skip_message == "nothing is stale"
    same = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs))
    assert not same.run_requests and same.skip_message == "seed files unchanged"


def test_shards_of_a_wave_run_as_one_run_each(tmp_path: Path) -> None:
    spec = _private_spec(tmp_path, shards=3)
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.get()
    assert run_pipeline(spec, warehouse, instance=instance, workers=1).success
    defs = fake_definitions(spec, warehouse)
    shards = defs.resolve_asset_graph().get(AssetKey(["tiny", "expansions"])).partitions_def.get_partition_keys()
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    idle = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    _append(tmp_path / "seeds.csv", NEW_SEED)
    tick = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=idle.cursor, definitions=defs))
    waves, end = _follow(defs, instance, tick.run_requests)
    assert len(shards) == 3 and waves[1] == {f"expansions[{p}]" for p in shards}
    assert [w for i, w in enumerate(waves) if i != 1] == [w for i, w in enumerate(FULL_REFRESH) if i != 1]
    assert end.skip_message == "nothing is stale"


def test_schedule_refreshes_only_what_a_changed_eval_file_reaches(tmp_path: Path) -> None:
    spec, warehouse, instance = _materialised(tmp_path)
    defs = fake_definitions(spec, warehouse)
    at = datetime(2026, 1, 2, 3, tzinfo=timezone.utc)
    idle = _schedule_tick(defs, instance, at)
    assert not idle.run_requests and idle.skip_message == "nothing is stale"

    _append(tmp_path / "test.csv", NEW_EVAL)
    tick = _schedule_tick(defs, instance, at)
    assert tick.run_requests[0].tags[REFRESH_TAG] == "schedule-20260102T030000"
    waves, end = _follow(defs, instance, tick.run_requests)
    # filtered reads eval_set (decontamination) and reruns, but accepts the same rows: no new student
    assert waves == [{"seeds", "eval_set", "quarantine"}, {"filtered"}, {"eval_predictions", "eval_scores"}]
    assert end.skip_message == "nothing is stale"


def test_refresh_waits_for_a_run_in_flight_and_never_retries_a_failed_wave(tmp_path: Path) -> None:
    spec, warehouse, instance = _materialised(tmp_path)
    # a teacher that raises on its next new call: its call log's folder does not exist
    defs = fake_definitions(spec, warehouse, call_log=tmp_path / "absent" / "calls.log")
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    idle = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))

    _append(tmp_path / "seeds.csv", NEW_SEED)
    other = instance.add_run(DagsterRun(job_name="tiny_all", status=DagsterRunStatus.STARTED))
    busy = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=idle.cursor, definitions=defs))
    assert not busy.run_requests and busy.skip_message == f"waiting for run {other.run_id} of tiny to finish"
    assert busy.cursor == idle.cursor  # the change is not consumed: a later tick starts the refresh
    instance.report_run_failed(other)
    tick = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=idle.cursor, definitions=defs))
    ingest = _launch(defs, instance, tick.run_requests[0])
    assert ingest.status == DagsterRunStatus.SUCCESS

    [expand] = _after_success(defs, instance, ingest)
    failed = _launch(defs, instance, expand)
    assert failed.status == DagsterRunStatus.FAILURE
    # a failed run starts no wave; asked again (a late shard would ask), the sensor does not retry it
    again = _after_success(defs, instance, ingest)
    assert isinstance(again, SkipReason) and f"run {failed.run_id} of tiny/expansions failed" in again.skip_message
    later = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs))
    assert not later.run_requests and later.skip_message == "seed files unchanged"


def test_automation_ignores_identical_rematerialisation(tmp_path: Path) -> None:
    spec = _private_spec(tmp_path)
    warehouse = tmp_path / "warehouse"
    instance = DagsterInstance.get()
    defs = fake_definitions(spec, warehouse)
    assert run_pipeline(spec, warehouse, instance=instance).success
    result = evaluate_automation_conditions(defs, instance)
    # a second, identical full materialisation: same data versions everywhere
    assert run_pipeline(spec, warehouse, instance=instance).success
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert result.total_requested == 0

    _append(tmp_path / "seeds.csv", NEW_SEED)
    sensor = defs.resolve_sensor_def("tiny_seed_files_changed")
    sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))  # records the new file version
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert all(result.get_num_requested(AssetKey(["tiny", t])) == 1 for t in ("seeds", "eval_set", "quarantine"))
    assert result.get_num_requested(AssetKey(["tiny", "expansions"])) == 0  # it waits for seeds' new data version
