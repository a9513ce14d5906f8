"""Running pipelines the way the CLI, tests and benchmarks all do: observe, then materialise all or stale."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetSelection, DagsterInstance, Definitions, materialize

from synth_assets.factory import observe_job_name
from synth_assets.staleness import AssetState, asset_states


@dataclass
class RunOutcome:
    """Whether every run succeeded and how many asset materialisations happened."""

    success: bool
    materialised: int


def observe_and_states(defs: Definitions, pipelines: list[str], instance: DagsterInstance) -> list[AssetState]:
    """Hash the seed files (so a changed file shows up as new data), then report every asset's state."""
    for name in pipelines:
        defs.resolve_job_def(observe_job_name(name)).execute_in_process(instance=instance)
    return [s for name in pipelines for s in asset_states(defs, instance, group=name)]


def materialize_all(defs: Definitions, pipelines: list[str], instance: DagsterInstance) -> RunOutcome:
    """Every asset of the pipelines; unchanged work is still skipped by the row and checkpoint caches."""
    states = observe_and_states(defs, pipelines, instance)
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources,
                         selection=AssetSelection.groups(*pipelines), raise_on_error=False)
    return RunOutcome(result.success, len(states))


def materialize_stale(defs: Definitions, pipelines: list[str], instance: DagsterInstance, log=print) -> RunOutcome:
    """Only stale or missing assets, in waves until none is left.

    Staleness propagates one step at a time: a rerun asset whose content did not change (same
    data version) leaves its children fresh, so the states are re-read after every wave.
    """
    states = observe_and_states(defs, pipelines, instance)
    done = 0
    for _ in range(len(states) + 1):
        todo = [s.key for s in states if s.needs_run]
        if not todo:
            return RunOutcome(True, done)
        log("materialising stale: " + ", ".join(k.to_user_string() for k in todo))
        result = materialize(list(defs.assets), instance=instance, resources=defs.resources,
                             selection=AssetSelection.assets(*todo), raise_on_error=False)
        done += len(todo)
        if not result.success:
            return RunOutcome(False, done)
        states = observe_and_states(defs, pipelines, instance)
    raise RuntimeError("assets stayed stale after materialising them; is a data version non-deterministic?")
