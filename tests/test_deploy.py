"""The shipped deployment instance config loads and queues shard runs with a bound."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance

ROOT = Path(__file__).resolve().parents[1]


def test_deploy_instance_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    instance = DagsterInstance.get()
    coordinator = instance.run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    assert coordinator.get_run_queue_config().max_concurrent_runs == 16
    # the daemon fails runs that never start; resuming needs a launcher that supports it
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
