"""The seed-file sensor under the real `dagster-daemon`: a changed file refreshes exactly what it reaches.

About 4 minutes on a 2-core CPU (measured 3 min 40 s; 4 min 51 s while other jobs shared the cores):
`synth run` of the tiny spec (~15 s), then three edits under the daemon with 2 s sensor ticks.
Each wave is a run in its own process (~15 s): 6 waves for a new seed row, none for a touch, 3 for
a new eval row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from synth_assets.automation import REFRESH_TAG
from synth_assets.factory import load_definitions
from synth_assets.staleness import asset_states
from test_automation import NEW_EVAL, NEW_SEED, private_spec_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INTERVAL_S = 2
REFRESH_TIMEOUT_S = 420
# Not needed to launch runs (the default queued coordinator and launcher do); the queue is read
# every second instead of every 5, and each wave waits in it once.
DAGSTER_YAML = """
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""
SEED_REFRESH = ["seeds", "eval_set", "quarantine", "expansions", "filtered", "train_set", "student_checkpoint",
                "eval_predictions", "eval_scores"]
# filtered reads eval_set (decontamination) but accepts the same rows, so no new train set or student
EVAL_REFRESH = ["seeds", "eval_set", "quarantine", "filtered", "eval_predictions", "eval_scores"]


def _env(tmp_path: Path, spec: Path, home: Path) -> dict[str, str]:
    return dict(os.environ, DAGSTER_HOME=str(home), SYNTH_SPECS=str(spec), SYNTH_WAREHOUSE=str(tmp_path / "warehouse"),
                SYNTH_SENSOR_INTERVAL_S=str(INTERVAL_S), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                TOKENIZERS_PARALLELISM="false", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def _wait(what: str, done: Callable[[], bool], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:.0f} s; daemon log:\n{log.read_text()[-4000:]}")
        time.sleep(1)


def _seed_sensor_ticks(instance: DagsterInstance, after: float) -> list:
    """The seed sensor's finished ticks since `after`, oldest first."""
    state = next(s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                 if s.name == "tiny_seed_files_changed")
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
    return sorted((t for t in ticks if t.status != TickStatus.STARTED), key=lambda t: t.timestamp)


def _errors(instance: DagsterInstance, run_id: str) -> list[str]:
    """The step failures of a run, as `synth run` would print them."""
    return [str(e.dagster_event.event_specific_data.error)[-1500:] for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)]


def _refresh(instance: DagsterInstance, defs, before: set[str], log: Path) -> tuple[Counter, list]:
    """Wait for the runs an edit causes to end with nothing stale; materialisations per table and the runs."""
    def new_runs():
        return [r for r in instance.get_run_records(RunsFilter(job_name="tiny_all")) if r.dagster_run.run_id not in before]

    def settled() -> bool:
        runs = new_runs()
        return bool(runs) and all(r.dagster_run.is_finished for r in runs) and (
            any(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in runs)
            or not any(s.needs_run for s in asset_states(defs, instance, group="tiny")))

    _wait("the refresh did not finish", settled, REFRESH_TIMEOUT_S, log)
    count = len(new_runs())
    time.sleep(3 * INTERVAL_S + 2)  # both sensors tick again: no further wave
    runs = sorted(new_runs(), key=lambda r: r.start_time or 0)
    assert len(runs) == count, [r.dagster_run.asset_selection for r in runs]
    failed = [r.dagster_run for r in runs if r.dagster_run.status != DagsterRunStatus.SUCCESS]
    assert not failed, [(run.asset_selection, _errors(instance, run.run_id)) for run in failed]
    tables = Counter(e.dagster_event.asset_key.path[-1] for r in runs
                     for e in instance.all_logs(r.dagster_run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION))
    return tables, runs


def test_daemon_refreshes_what_a_changed_seed_file_reaches(tmp_path: Path, dagster_home: Path) -> None:
    spec = private_spec_path(tmp_path)
    with open(dagster_home / "dagster.yaml", "a", encoding="utf-8") as fh:
        fh.write(DAGSTER_YAML)
    env = _env(tmp_path, spec, dagster_home)
    run = subprocess.run([str(BIN / "synth"), "run", "--spec", str(spec)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_file:\n      relative_path: {ROOT / 'definitions.py'}\n"
                         f"      working_directory: {ROOT}\n")
    instance = DagsterInstance.get()
    defs = load_definitions([spec], tmp_path / "warehouse")
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        # its own session, so stopping it also stops the code server and the runs it started
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env=env, cwd=tmp_path,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.time()
        on = subprocess.run([str(BIN / "dagster"), "sensor", "start", "tiny_seed_files_changed", "-w", str(workspace)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert on.returncode == 0 and "Started sensor tiny_seed_files_changed" in on.stdout, on.stdout + on.stderr
        _wait("the seed sensor did not tick", lambda: _seed_sensor_ticks(instance, started), 300, log)
        # on a materialised warehouse, turning the sensor on records the files' hash and runs nothing
        first = _seed_sensor_ticks(instance, started)[0]
        assert (first.status, first.skip_reason) == (TickStatus.SKIPPED, "seed files changed; nothing is stale"), first.error
        before = {r.run_id for r in instance.get_runs()}

        with open(tmp_path / "seeds.csv", "a", encoding="utf-8") as fh:
            fh.write(NEW_SEED)
        tables, runs = _refresh(instance, defs, before, log)
        assert tables == Counter(SEED_REFRESH)  # every table downstream of the seeds, each once
        assert len({r.dagster_run.tags[REFRESH_TAG] for r in runs}) == 1
        assert all(a.end_time <= b.start_time for a, b in zip(runs, runs[1:]))  # wave after wave, never two at once

        before = {r.run_id for r in instance.get_runs()}
        touched = time.time()
        seeds = tmp_path / "seeds.csv"
        seeds.write_bytes(seeds.read_bytes())  # same bytes, new mtime
        _wait("the seed sensor did not tick twice after the touch", lambda: len(_seed_sensor_ticks(instance, touched)) >= 2, 120, log)
        ticks = _seed_sensor_ticks(instance, touched)
        assert {(t.status, t.skip_reason) for t in ticks} == {(TickStatus.SKIPPED, "seed files unchanged")}
        assert {r.run_id for r in instance.get_runs()} == before

        with open(tmp_path / "test.csv", "a", encoding="utf-8") as fh:
            fh.write(NEW_EVAL)
        tables, _ = _refresh(instance, defs, before, log)
        assert tables == Counter(EVAL_REFRESH)  # not expansions, train_set or student_checkpoint
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
