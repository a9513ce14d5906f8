"""The confidence threshold comes from the teacher's measured precision on labelled seeds."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from spec_helpers import write_spec
from synth_assets.filters.confidence import choose_threshold, recalibrate
from synth_assets.spec import load_spec


def _spec(tmp_path: Path, **confidence):
    return load_spec(write_spec(tmp_path, filters={"confidence": {"min_precision": 0.8, "min_support": 3, **confidence}}))


def test_threshold_is_lowest_margin_meeting_precision(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    cal = pl.DataFrame({
        "confidence": [3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.2, 0.1],
        "correct":    [True, True, True, True, False, True, False, False],
    })
    report = choose_threshold(cal, spec)
    # top 4 are all right (1.0); top 6 are 5/6 = 0.83 >= 0.8; top 7 are 5/7 = 0.71
    assert report.threshold == 0.5 and report.support_above_threshold == 6
    assert abs(report.precision_above_threshold - 5 / 6) < 1e-9
    assert report.teacher_accuracy_on_seeds == 5 / 8


def test_no_threshold_when_teacher_is_never_precise_enough(tmp_path: Path) -> None:
    spec = _spec(tmp_path, min_precision=0.95)
    cal = pl.DataFrame({"confidence": [3.0, 2.0, 1.0, 0.5], "correct": [True, False, True, False]})
    report = choose_threshold(cal, spec)
    assert report.threshold is None and report.support_above_threshold == 0


def test_support_must_be_met_and_ties_stay_together(tmp_path: Path) -> None:
    spec = _spec(tmp_path, min_support=3)
    # the two best rows are right but too few; the tie at 1.0 must be taken whole (3/4 < 0.8)
    cal = pl.DataFrame({"confidence": [2.0, 1.5, 1.0, 1.0], "correct": [True, True, True, False]})
    assert choose_threshold(cal, spec).threshold is None


def test_calibration_removes_the_label_prior(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    # the teacher always prefers "yes" by 2 nats; relative to that prior, row b leans "other"
    scores = [{"great": -1.0, "other": -3.5}, {"great": -1.0, "other": -2.5}]
    df = pl.DataFrame({"label_scores": [json.dumps(s) for s in scores], "target": ["great", "great"], "confidence": [2.5, 1.5]})
    out = recalibrate(df, spec.labels, calibrate=True)
    assert out["target"].to_list() == ["great", "other"]
    assert [round(c, 6) for c in out["confidence"]] == [0.5, 0.5]
    raw = recalibrate(df, spec.labels, calibrate=False)
    assert raw["target"].to_list() == ["great", "great"]
    assert [round(c, 6) for c in raw["confidence"]] == [2.5, 1.5]


def test_auto_calibration_follows_accuracy_on_known_seeds(tmp_path: Path) -> None:
    from synth_assets.filters.confidence import use_calibration

    spec = _spec(tmp_path)  # calibrate: auto by default
    scores = [{"great": -1.0, "other": -3.5}, {"great": -1.0, "other": -2.5}]
    rows = pl.DataFrame({"seed_id": ["a", "b"], "label_scores": [json.dumps(s) for s in scores],
                         "target": ["great", "great"], "confidence": [2.5, 1.5]})
    # truth great/other: only calibration gets b right; truth great/great: raw is better
    assert use_calibration(rows, pl.DataFrame({"seed_id": ["a", "b"], "_seed_target": ["great", "other"]}), spec)
    assert not use_calibration(rows, pl.DataFrame({"seed_id": ["a", "b"], "_seed_target": ["great", "great"]}), spec)
    forced = _spec(tmp_path, calibrate=True)
    assert use_calibration(rows, pl.DataFrame({"seed_id": ["a", "b"], "_seed_target": ["great", "great"]}), forced)


def test_teacher_good_everywhere_keeps_every_label(tmp_path: Path) -> None:
    spec = _spec(tmp_path, min_precision=0.5)
    cal = pl.DataFrame({"confidence": [3.0, 2.0, 1.0, 0.5], "correct": [True, True, False, True]})
    report = choose_threshold(cal, spec)
    assert report.threshold == 0.0 and report.support_above_threshold == 4
