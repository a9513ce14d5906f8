"""Student-aware filter: rows the current student already gets right, with conviction, are dropped."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from spec_helpers import write_math_spec, write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.filters.student_aware import student_verdicts
from synth_assets.spec import load_spec
from synth_assets.training.base import Prediction

SEEDS = pl.DataFrame({"seed_id": ["s1"], "input": ["A labelled review about cocoa powder."], "target": ["great"]})
ROWS = pl.DataFrame({
    "row_id": ["known", "unsure", "wrong", "failed"], "seed_id": ["s1"] * 4, "strategy": ["rephrase"] * 4,
    "sample_idx": [0, 1, 2, 3],
    "input": ["Loved the cocoa, rich and dark.", "The cocoa was fine I suppose.", "Cocoa tasted like dust, sadly.", None],
    "target": ["great", "great", "great", "great"], "error": [None, None, None, "timeout"],
    "confidence": [None] * 4, "label_scores": [None] * 4,
}, schema_overrides={"error": pl.String, "confidence": pl.Float64, "label_scores": pl.String})
# the student's belief per text: sure and right, right but unsure, wrong
BELIEFS = {"Loved": {"great": 0.97, "other": 0.03}, "The cocoa was": {"great": 0.6, "other": 0.4},
           "Cocoa tasted": {"great": 0.2, "other": 0.8}}


def student(texts: list[str]) -> list[Prediction]:
    out = []
    for t in texts:
        probs = next(p for k, p in BELIEFS.items() if t.startswith(k))
        out.append(Prediction(max(probs, key=probs.__getitem__), probs))
    return out


def _spec(tmp_path: Path, enabled: bool = True):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_spec(write_spec(tmp_path, filters={"student_aware": {"enabled": enabled, "min_true_prob": 0.9}}))


def test_rows_the_student_knows_are_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def counted(texts: list[str]) -> list[Prediction]:
        calls.append(texts)
        return student(texts)

    filtered, report = apply_filters(ROWS, SEEDS, _spec(tmp_path), student=counted)
    by_row = {r["row_id"]: r for r in filtered.iter_rows(named=True)}
    assert by_row["known"]["reject_reason"] == "student_already_right" and by_row["known"]["student_knows"]
    assert by_row["unsure"]["accepted"] and by_row["unsure"]["student_true_prob"] == 0.6
    assert by_row["wrong"]["accepted"] and by_row["wrong"]["student_prediction"] == "other"
    # a row another filter rejected is never shown to the student
    assert by_row["failed"]["reject_reason"].startswith("teacher_error") and by_row["failed"]["student_knows"] is None
    assert len(calls) == 1 and len(calls[0]) == 3
    assert report.reasons["student_already_right"] == 1


def test_off_or_without_a_student_nothing_is_dropped(tmp_path: Path) -> None:
    for spec, given in ((_spec(tmp_path / "off", enabled=False), student), (_spec(tmp_path / "on"), None)):
        filtered, _ = apply_filters(ROWS, SEEDS, spec, student=given)
        assert filtered["student_knows"].is_null().all()
        assert filtered.filter(pl.col("accepted")).height == 3


def test_a_math_student_knows_a_row_when_its_number_is_right(tmp_path: Path) -> None:
    spec = load_spec(write_math_spec(tmp_path, filters={"student_aware": {"enabled": True}}))
    rows = pl.DataFrame({"row_id": ["a", "b"], "input": ["2 + 2?", "3 + 3?"], "target": ["4", "6"]})
    out = student_verdicts(rows, spec, lambda texts: [Prediction("It is 4.0\n#### 4"), Prediction("#### 7")])
    assert out["student_knows"].to_list() == [True, False] and out["student_true_prob"].is_null().all()
