"""When Dagster runs things by itself: on real data or code changes, never on identical content.

`AutomationCondition.eager()` fires whenever a dependency is *materialised*, even with identical
content; for teacher generation and training (GPU work) that is money. These conditions fire
on a dependency's *data version* changing, or the asset's own code version changing.

The seed-file sensor and the cron schedule start a *refresh*: they record the files' content hash
and request the first wave of stale assets. Dagster marks an asset stale only once its upstream
has a new data version, so one request cannot cover a refresh; a run-status sensor requests each
next wave when a refresh run succeeds, until nothing is stale (what `synth run --stale` does in
one process). A failed run ends its refresh: nothing is retried until the files change again.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

from dagster import (
    AssetKey,
    AssetObservation,
    AssetSelection,
    AutomationCondition,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RepositoryDefinition,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from synth_assets.assets.common import Build
from synth_assets.assets.seeds import seed_files_version
from synth_assets.hashing import stable_hash
from synth_assets.staleness import asset_states

DATA_VERSION_TAG = "dagster/data_version"  # how Dagster reads an observation's data version
REFRESH_TAG = "synth/refresh"  # every run of one refresh carries its id
WAVE_TAG = "synth/wave"  # also the run key: one run per (refresh, assets, partition)
INTERVAL_ENV = "SYNTH_SENSOR_INTERVAL_S"
DEFAULT_INTERVAL_S = 30
IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def on_real_change() -> AutomationCondition:
    """Like eager(), but triggered by changed upstream data versions or a changed code version."""
    changed = (
        AutomationCondition.newly_missing()
        | AutomationCondition.any_deps_match(AutomationCondition.data_version_changed())
        | AutomationCondition.code_version_changed()
    )
    return (
        changed.since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("on real change")


def sensor_interval_s() -> int:
    """Seconds between sensor ticks: $SYNTH_SENSOR_INTERVAL_S when definitions are built (tests use a few), else 30."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{INTERVAL_ENV} must be a whole number of seconds >= 1, got {raw!r}")
    return int(raw)


def _observe(b: Build, instance: DagsterInstance) -> str:
    """Record the seed files' current content hash, so staleness sees a changed file."""
    version = seed_files_version(b.spec)
    instance.report_runless_asset_event(
        AssetObservation(asset_key=b.key("seed_files"), tags={DATA_VERSION_TAG: version})
    )
    return version


def _busy(b: Build, repo: RepositoryDefinition, instance: DagsterInstance, job_name: str) -> DagsterRun | None:
    """A queued or running run of this pipeline: a new refresh waits for it, or it would read half-written tables."""
    keys = AssetSelection.groups(b.group).resolve(repo.asset_graph)
    for run in instance.get_runs(RunsFilter(statuses=IN_FLIGHT)):
        if run.job_name == job_name or (run.asset_selection and run.asset_selection & keys):
            return run
    return None


def next_wave(b: Build, repo: RepositoryDefinition, instance: DagsterInstance, refresh: str) -> list[RunRequest] | SkipReason:
    """Run requests for the stale or missing assets none of whose ancestors is stale or missing.

    Later waves wait: an asset behind a stale one would otherwise run on inputs about to change,
    and run again. A sharded asset gets one request per shard. A wave is keyed by its assets and
    why they are stale; one this refresh already ran is not requested again, so a failed run is
    not retried and an asset that stays stale for the same reason ends the refresh.
    """
    states = asset_states(repo, instance, group=b.group)
    graph = repo.asset_graph
    todo = {s.key: s for s in states if s.needs_run}
    if not todo:
        return SkipReason("nothing is stale")
    behind: set[AssetKey] = set()
    for s in states:  # topological order: parents are decided first
        if graph.get(s.key).parent_keys & (todo.keys() | behind):
            behind.add(s.key)
    front = [k for k in todo if k not in behind]
    whole = [k for k in front if not graph.get(k).is_partitioned]
    waves: list[tuple[list[AssetKey], str | None]] = []
    if whole:  # with the other outputs of their multi-assets, which cannot run alone
        waves.append((sorted(AssetSelection.assets(*whole).required_multi_asset_neighbors().resolve(graph)), None))
    waves += [([k], p) for k in front if graph.get(k).is_partitioned for p in todo[k].partitions]
    requests = []
    for keys, partition in waves:
        causes = sorted(c for k in keys if k in todo for c in todo[k].causes)
        wave = f"{refresh}-{stable_hash([k.to_user_string() for k in keys], partition, causes)}"
        done = instance.get_runs(RunsFilter(tags={WAVE_TAG: wave}), limit=1)
        if done:
            outcome = "failed" if done[0].status != DagsterRunStatus.SUCCESS else "succeeded but they are still stale"
            names = ", ".join(k.to_user_string() for k in keys) + (f" [{partition}]" if partition else "")
            return SkipReason(f"refresh {refresh} stops: run {done[0].run_id} of {names} {outcome}; "
                              "fix the cause, then `synth run --stale` or change a seed file")
        requests.append(RunRequest(run_key=wave, asset_selection=keys, partition_key=partition,
                                   tags={REFRESH_TAG: refresh, WAVE_TAG: wave}))
    return requests


def _waiting(b: Build, repo: RepositoryDefinition, instance: DagsterInstance, job_name: str) -> SkipReason | None:
    busy = _busy(b, repo, instance, job_name)
    return SkipReason(f"waiting for run {busy.run_id} of {b.spec.name} to finish") if busy else None


def build_triggers(b: Build, job: UnresolvedAssetJobDefinition) -> tuple[list, list]:
    """A sensor on seed-file content, the sensor that carries a refresh wave by wave, and the spec's cron schedule."""
    interval = sensor_interval_s()

    @sensor(name=f"{b.spec.name}_seed_files_changed", job=job, minimum_interval_seconds=interval,
            default_status=DefaultSensorStatus.STOPPED,
            description="Hashes the seed, pool and eval files; on a change, materialises the stale assets, wave by wave.")
    def seed_files_changed(context: SensorEvaluationContext):
        version = seed_files_version(b.spec)
        if context.cursor == version:
            return SkipReason("seed files unchanged")
        waiting = _waiting(b, context.repository_def, context.instance, job.name)
        if waiting:
            return waiting  # the cursor stays: the change is picked up on a later tick
        _observe(b, context.instance)
        refresh = f"files-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{version[:8]}"
        wave = next_wave(b, context.repository_def, context.instance, refresh)
        if isinstance(wave, SkipReason):
            return SensorResult(skip_reason=f"seed files changed; {wave.skip_message}", cursor=version)
        return SensorResult(run_requests=wave, cursor=version)

    # on by default: it acts only on runs a refresh started, so it costs nothing until one is on
    @run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name=f"{b.spec.name}_refresh_waves", monitored_jobs=[job],
                       request_job=job, minimum_interval_seconds=interval, default_status=DefaultSensorStatus.RUNNING,
                       description="When a refresh run succeeds, requests the assets that are stale now, until none is.")
    def refresh_waves(context: RunStatusSensorContext):
        refresh = context.dagster_run.tags.get(REFRESH_TAG)
        if not refresh:
            return SkipReason("not a refresh run")
        for run in context.instance.get_runs(RunsFilter(job_name=job.name, statuses=IN_FLIGHT)):
            if REFRESH_TAG in run.tags:  # a shard of this wave, or a newer refresh, carries on when it finishes
                return SkipReason(f"waiting for run {run.run_id}")
        return next_wave(b, context.repository_def, context.instance, refresh)

    schedules = []
    if b.spec.schedule:
        def refresh(context: ScheduleEvaluationContext):
            waiting = _waiting(b, context.repository_def, context.instance, job.name)
            if waiting:
                yield waiting
                return
            _observe(b, context.instance)
            stamp = (context.scheduled_execution_time or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S")
            wave = next_wave(b, context.repository_def, context.instance, f"schedule-{stamp}")
            yield from [wave] if isinstance(wave, SkipReason) else wave  # a schedule yields requests, it cannot return a list

        schedules.append(ScheduleDefinition(
            name=f"{b.spec.name}_refresh", cron_schedule=b.spec.schedule, job=job, execution_fn=refresh,
            default_status=DefaultScheduleStatus.STOPPED, description="Materialises the stale assets, wave by wave.",
        ))
    return [seed_files_changed, refresh_waves], schedules
