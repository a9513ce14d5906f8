"""Shared fixtures: a tiny real spec over shipped review samples, a temp warehouse, a Dagster home."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"


def write_spec(tmp_path: Path, **overrides) -> Path:
    """A small classification spec on tests/data; `overrides` replace top-level sections."""
    spec = {
        "name": "tiny",
        "instruction": "Is the following food product review enthusiastic?",
        "labels": ["great", "other"],
        "label_words": {"great": "yes", "other": "no"},
        "seeds": [
            {"path": str(DATA / "seeds.csv"), "input": "review", "target": "score"},
            {"path": str(DATA / "pool.csv"), "input": "review"},
        ],
        "eval": {"path": str(DATA / "test.csv"), "input": "review", "target": "score"},
        "teacher": {"backend": "fake", "model": "fake", "batch_size": 4},
        "strategies": [{"name": "label"}, {"name": "rephrase", "samples": 2}],
        "filters": {"confidence": {"min_precision": 0.5, "min_support": 2}},
        "student": {"kind": "tfidf_logreg"},
    }
    spec.update(overrides)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


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
