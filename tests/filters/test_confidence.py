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


def _disagreeing_seeds(wins: int, losses: int, ties: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Label rows and seed truths where calibration gets `wins` seeds right that raw scores get wrong, raw `losses` the
    reverse, and both get `ties` right. The teacher prefers "yes" by 2 nats: relative to that prior a row at
    (-1.0, -2.5) leans "other", so it reads "great" raw and "other" calibrated; (-1.0, -3.5) reads "great" both ways."""
    lean, plain = {"great": -1.0, "other": -2.5}, {"great": -1.0, "other": -3.5}
    rows = [(lean, "other")] * wins + [(lean, "great")] * losses + [(plain, "great")] * ties
    # the prior is the mean over all rows: unlabelled padding keeps it near 2 nats whatever the mix above
    rows += [({"great": -1.0, "other": -3.0}, None)] * 20
    ids = [f"s{i}" for i in range(len(rows))]
    label_rows = pl.DataFrame({"seed_id": ids, "label_scores": [json.dumps(s) for s, _ in rows],
                               "target": ["great"] * len(rows), "confidence": [1.0] * len(rows)})
    truth = pl.DataFrame({"seed_id": ids, "_seed_target": [t for _, t in rows]}).drop_nulls()
    return label_rows, truth


def test_auto_calibration_needs_a_win_larger_than_noise_on_the_known_seeds(tmp_path: Path) -> None:
    from synth_assets.filters.confidence import calibration_record, use_calibration

    spec = _spec(tmp_path)  # calibrate: auto by default
    by_one = _disagreeing_seeds(wins=3, losses=2, ties=40)
    assert calibration_record(*by_one, spec.labels) == (3, 2)
    assert not use_calibration(*by_one, spec)  # one seed better: noise, the raw scores stay
    assert not use_calibration(*_disagreeing_seeds(wins=1, losses=0, ties=40), spec)
    by_many = _disagreeing_seeds(wins=9, losses=1, ties=40)
    assert calibration_record(*by_many, spec.labels) == (9, 1) and use_calibration(*by_many, spec)
    assert not use_calibration(*_disagreeing_seeds(wins=1, losses=9, ties=40), spec)
    forced = _spec(tmp_path, calibrate=True)
    assert use_calibration(*by_one, forced) and use_calibration(*_disagreeing_seeds(wins=0, losses=5, ties=5), forced)
    assert not use_calibration(*by_many, _spec(tmp_path, calibrate=False))


def test_the_sign_test_counts_only_the_seeds_the_readings_disagree_on() -> None:
    from synth_assets.filters.confidence import sign_test_p

    assert sign_test_p(0, 0) == 1.0 and sign_test_p(3, 2) == 0.5
    assert sign_test_p(5, 0) == 1 / 32 and sign_test_p(4, 0) == 1 / 16  # five straight wins is the fewest that pass
    assert sign_test_p(7, 1) < 0.05 < sign_test_p(6, 1)


def test_teacher_good_everywhere_keeps_every_label(tmp_path: Path) -> None:
    spec = _spec(tmp_path, min_precision=0.5)
    cal = pl.DataFrame({"confidence": [3.0, 2.0, 1.0, 0.5], "correct": [True, True, False, True]})
    report = choose_threshold(cal, spec)
    assert report.threshold == 0.0 and report.support_above_threshold == 4


def test_only_pipelines_left_at_calibrate_auto_get_a_new_filtered_version(tmp_path: Path) -> None:
    from synth_assets.assets.common import Build
    from synth_assets.assets.filtered import AUTO_CALIBRATION_MARK, build_filtered

    def version(spec) -> str:
        return next(iter(build_filtered(Build(spec, tmp_path)).code_versions_by_key.values()))

    assert AUTO_CALIBRATION_MARK in version(_spec(tmp_path))  # auto may now read the scores raw
    assert not any(AUTO_CALIBRATION_MARK in version(_spec(tmp_path, calibrate=c)) for c in (True, False))
