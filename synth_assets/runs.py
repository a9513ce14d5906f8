"""Running pipelines the way the CLI, tests and benchmarks all do: observe, then materialise all or stale.

Sharded pipelines (`shards: N`) have a partitioned `expansions` asset. Dagster runs one partition
per run, so each wave runs the assets upstream of the shards, then the shards as parallel Dagster
runs in separate processes against the same instance (what a run queue with concurrency N does on
a deployment), then everything downstream, which reads all shards.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from dagster import (AssetCheckSeverity, AssetKey, AssetSelection, DagsterInstance, DagsterRun, DagsterRunStatus, Definitions,
                     ExecuteInProcessResult, RunsFilter, materialize)

from synth_assets.factory import build_definitions, observe_job_name
from synth_assets.processes import process_alive
from synth_assets.spec import PipelineSpec
from synth_assets.staleness import AssetState, asset_states
from synth_assets.storage.location import Location

# Rebuilds the same Definitions in a worker process (a picklable callable, e.g. functools.partial of
# build_definitions or load_definitions); without one, shards run one after another in this process.
Rebuild = Callable[[], Definitions]
# The process behind a run, in its tags: a later start on this host can tell a killed run from a live one.
PID_TAG, HOST_TAG = "synth/pid", "synth/host"


@dataclass
class RunOutcome:
    """Whether every run succeeded, how many asset materialisations happened, and why steps or checks failed."""

    success: bool
    materialised: int
    # one line per failed step or failed check, in the words of the error or the check's description
    failures: list[str] = field(default_factory=list)


def observe_and_states(defs: Definitions, pipelines: list[str], instance: DagsterInstance) -> list[AssetState]:
    """Hash the seed files (so a changed file shows up as new data), then report every asset's state."""
    for name in pipelines:
        defs.resolve_job_def(observe_job_name(name)).execute_in_process(instance=instance, tags=process_tags())
    return [s for name in pipelines for s in asset_states(defs, instance, group=name)]


def materialize_all(defs: Definitions, pipelines: list[str], instance: DagsterInstance,
                    rebuild: Rebuild | None = None, workers: int | None = None) -> RunOutcome:
    """Every asset of the pipelines; unchanged work is still skipped by the row and checkpoint caches."""
    states = observe_and_states(defs, pipelines, instance)
    graph = defs.resolve_asset_graph()
    todo = {s.key: _all_partitions(graph.get(s.key)) for s in states}
    failures: list[str] = []
    ok = _run_wave(defs, instance, todo, rebuild, workers, failures)
    return RunOutcome(ok, len(states), failures)


def materialize_specs(specs: list[PipelineSpec], warehouse: Location, instance: DagsterInstance,
                      workers: int | None = None) -> RunOutcome:
    """Every asset of these specs in `warehouse`, as `synth run` materialises them: for scripts and benchmarks."""
    return materialize_all(build_definitions(specs, warehouse), [s.name for s in specs], instance,
                           rebuild=partial(build_definitions, specs, warehouse), workers=workers)


def materialize_stale(defs: Definitions, pipelines: list[str], instance: DagsterInstance, log=print,
                      rebuild: Rebuild | None = None, workers: int | None = None) -> RunOutcome:
    """Only stale or missing assets (and shards), in waves until none is left.

    Staleness propagates one step at a time: a rerun asset whose content did not change (same
    data version) leaves its children fresh, so the states are re-read after every wave.
    """
    states = observe_and_states(defs, pipelines, instance)
    done = 0
    failures: list[str] = []
    for _ in range(len(states) + 1):
        todo = {s.key: list(s.partitions) for s in states if s.needs_run}
        if not todo:
            return RunOutcome(True, done, failures)
        log("materialising stale: " + ", ".join(k.to_user_string() + (f" [{len(p)} shards]" if p else "") for k, p in todo.items()))
        done += len(todo)
        if not _run_wave(defs, instance, todo, rebuild, workers, failures):
            return RunOutcome(False, done, failures)
        states = observe_and_states(defs, pipelines, instance)
    raise RuntimeError("assets stayed stale after materialising them; is a data version non-deterministic?")


def _all_partitions(node) -> list[str]:
    return list(node.partitions_def.get_partition_keys()) if node.is_partitioned else []


def _run_wave(defs: Definitions, instance: DagsterInstance, todo: dict[AssetKey, list[str]],
              rebuild: Rebuild | None, workers: int | None, failures: list[str]) -> bool:
    """Assets upstream of the sharded ones, the shards (in parallel), then the rest; False on a failure."""
    sharded = {k: parts for k, parts in todo.items() if parts}
    upstream = AssetSelection.assets(*sharded).upstream().resolve(defs.resolve_asset_graph()) if sharded else set()
    before = {k for k in todo if k not in sharded and k in upstream}
    after = set(todo) - set(sharded) - before
    if before and not _materialize(defs, instance, before, failures=failures):
        return False
    for key, parts in sharded.items():
        if not materialize_partitions(defs, instance, key, parts, rebuild, workers, failures):
            return False
    return not after or _materialize(defs, instance, after, failures=failures)


def _materialize(defs: Definitions, instance: DagsterInstance, keys: Iterable[AssetKey], partition: str | None = None,
                 failures: list[str] | None = None) -> bool:
    result = materialize(list(defs.assets), instance=instance, resources=defs.resources, tags=process_tags(),
                         selection=AssetSelection.assets(*keys).required_multi_asset_neighbors(), partition_key=partition, raise_on_error=False)
    if failures is not None:
        failures += failure_lines(result, partition)
    return result.success


def process_tags() -> dict[str, str]:
    """Tags naming this process, so that a run it leaves STARTED when killed can be told from a live one."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def fail_dead_runs(instance: DagsterInstance, log: Callable[[str], None] = print) -> list[DagsterRun]:
    """Mark as failed the runs started on this host whose process is gone (SIGKILL, the OOM killer, a reboot).

    Such a run never reports its own end and would show as STARTED forever. Runs launched by the
    daemon or the UI carry no process tags; Dagster's run monitoring watches those.
    """
    host = socket.gethostname()
    in_progress = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    dead = []
    for run in instance.get_runs(RunsFilter(statuses=in_progress, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG) or 0)
        if pid <= 0 or process_alive(pid):
            continue
        message = f"run {run.run_id} was still {run.status.value}, but its process (pid {pid} on {host}) is gone: marked as failed"
        instance.report_run_failed(run, message)
        log(message)
        dead.append(run)
    return dead


def failure_lines(result: ExecuteInProcessResult, partition: str | None = None) -> list[str]:
    """What went wrong in a run, as a user should read it: failed checks by their description, failed steps by their error."""
    where = f" [{partition}]" if partition else ""
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            kind = "check" if evaluation.severity == AssetCheckSeverity.ERROR else "warning"
            lines.append(f"{kind} {evaluation.asset_key.to_user_string()}{where} {evaluation.check_name}: "
                         f"{evaluation.description or 'failed'}")
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            # the user's error is the innermost cause; Dagster wraps it in "Error occurred while executing op ..."
            while error.cause is not None:
                error = error.cause
            lines.append(f"step {event.step_key}{where} failed: {error.message.strip()}")
    return lines


def materialize_partitions(defs: Definitions, instance: DagsterInstance, key: AssetKey, partitions: list[str],
                           rebuild: Rebuild | None = None, workers: int | None = None,
                           failures: list[str] | None = None) -> bool:
    """One Dagster run per partition; in parallel worker processes when the instance is shared on disk."""
    workers = min(workers or os.cpu_count() or 1, len(partitions))
    if rebuild is None or workers <= 1 or instance.is_ephemeral:
        return all(_materialize(defs, instance, [key], p, failures) for p in partitions)
    # spawn, not fork: the parent may hold threads (Dagster, torch) that a fork would copy mid-lock
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcomes = list(pool.map(_materialize_in_worker, [(rebuild, key, p) for p in partitions]))
    if failures is not None:
        failures += [line for _, lines in outcomes for line in lines]
    return all(ok for ok, _ in outcomes)


def _materialize_in_worker(job: tuple[Rebuild, AssetKey, str]) -> tuple[bool, list[str]]:
    rebuild, key, partition = job
    failures: list[str] = []
    return _materialize(rebuild(), DagsterInstance.get(), [key], partition, failures), failures
