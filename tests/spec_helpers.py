"""The tiny real spec every test builds on: shipped review samples, the fake teacher, a TF-IDF student.

A plain module (not conftest) so helpers can import it whatever conftest pytest loaded last.
"""

from __future__ import annotations

import shutil
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
        # the fake teacher's labels are hash noise, so its check of each rewrite (verify_label, on by default) would
        # reject every one and leave the later stages nothing to train on: the tiny spec keeps rewrites unchecked.
        # The default itself is tested in tests/strategies/test_label_check_default.py.
        "strategies": [{"name": "label"}, {"name": "rephrase", "samples": 2, "verify_label": False}],
        "filters": {"confidence": {"min_precision": 0.5, "min_support": 2}},
        "student": {"kind": "tfidf_logreg"},
    }
    spec.update(overrides)
    for source in [*spec["seeds"], spec["eval"]]:
        source["path"] = local_copy(tmp_path, source["path"])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def local_copy(folder: Path, path: str) -> str:
    """A source under tests/data, copied into the spec's folder and named relative to it, as a user's spec would.

    A spec may read only files under its own folder (or $SYNTH_DATA_ROOTS); other paths are kept as they are.
    """
    src = Path(path)
    if not src.is_absolute() or not src.is_relative_to(DATA):
        return path
    dest = folder / "data" / src.relative_to(DATA)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return str(dest.relative_to(folder))


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
