"""Shared fixtures: a tiny real spec over shipped review samples, a temp warehouse, a Dagster home."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import DATA, write_spec  # noqa: F401 (re-exported for the test modules)


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write_spec(tmp_path)


@pytest.fixture(autouse=True)
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
