"""When Dagster runs things by itself: on real data or code changes, never on identical content.

`AutomationCondition.eager()` fires whenever a dependency is *materialised*, even with identical
content; for teacher generation and training (GPU work) that is money. These conditions fire
on a dependency's *data version* changing, or the asset's own code version changing.
"""

from __future__ import annotations

from dagster import (
    AssetObservation,
    AutomationCondition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from synth_assets.assets.common import Build
from synth_assets.assets.seeds import seed_files_version

DATA_VERSION_TAG = "dagster/data_version"  # how Dagster reads an observation's data version


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


def _observe(b: Build, context) -> str:
    """Record the seed files' current content hash, so staleness sees a changed file."""
    version = seed_files_version(b.spec)
    context.instance.report_runless_asset_event(
        AssetObservation(asset_key=b.key("seed_files"), tags={DATA_VERSION_TAG: version})
    )
    return version


def build_triggers(b: Build, job_name: str) -> tuple[list, list]:
    """A sensor on seed-file content and, if the spec has one, a cron schedule; both run stale assets only."""

    @sensor(name=f"{b.spec.name}_seed_files_changed", job_name=job_name, minimum_interval_seconds=30,
            default_status=DefaultSensorStatus.STOPPED,
            description="Hashes the seed, pool and eval files; on a change, materialises the stale assets only.")
    def seed_files_changed(context: SensorEvaluationContext):
        version = seed_files_version(b.spec)
        if context.cursor == version:
            return SkipReason("seed files unchanged")
        _observe(b, context)
        context.update_cursor(version)
        return RunRequest(run_key=f"seed-files-{version}", stale_assets_only=True)

    schedules = []
    if b.spec.schedule:
        def refresh(context: ScheduleEvaluationContext):
            _observe(b, context)
            return RunRequest(stale_assets_only=True)

        schedules.append(ScheduleDefinition(
            name=f"{b.spec.name}_refresh", cron_schedule=b.spec.schedule, job_name=job_name, execution_fn=refresh,
            default_status=DefaultScheduleStatus.STOPPED, description="Materialises stale assets only.",
        ))
    return [seed_files_changed], schedules
