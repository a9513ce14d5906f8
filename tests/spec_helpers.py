"""The tiny real spec every test builds on: shipped review samples, the fake teacher, a TF-IDF student.

A plain module (not conftest) so helpers can import it whatever conftest pytest loaded last.
"""

from __future__ import annotations

from pathlib import Path

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


def write_math_spec(tmp_path: Path, **overrides) -> Path:
    """A small math word-problem spec on tests/data/math_*.jsonl; `overrides` replace top-level sections."""
    math = {
        "name": "tiny_math",
        "task": "math",
        "instruction": "Solve the math word problem.",
        "labels": [],
        "label_words": {},
        "seeds": [{"path": str(DATA / "math_seeds.jsonl"), "input": "problem", "target": "answer"}],
        "eval": {"path": str(DATA / "math_test.jsonl"), "input": "problem", "target": "answer"},
        "strategies": [{"name": "answer_augment", "samples": 3}],
        "filters": {},
    }
    return write_spec(tmp_path, **{**math, **overrides})
