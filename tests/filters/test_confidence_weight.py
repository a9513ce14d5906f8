"""confidence.mode: weight keeps every teacher label, weighted by the precision the labelled seeds show at its margin."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from spec_helpers import write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.filters.confidence import PRIOR_SEEDS, precision_curve
from synth_assets.spec import load_spec


def _cal(margins: list[float], correct: list[bool]) -> pl.DataFrame:
    return pl.DataFrame({"confidence": margins, "correct": correct})


def test_blocks_are_shrunk_toward_chance_and_interpolated() -> None:
    curve = precision_curve(_cal([0.1, 0.2, 0.3, 0.4], [False, False, True, True]), n_labels=2)
    # isotonic blocks {0.1, 0.2}: 0 of 2 right, {0.3, 0.4}: 2 of 2; Laplace: (0 + 1) / (2 + 2), (2 + 1) / (2 + 2)
    assert [curve.at(m) for m in (0.1, 0.2, 0.3, 0.4)] == pytest.approx([0.25, 0.25, 0.75, 0.75])
    assert curve.at(0.25) == pytest.approx(0.5)  # linear between the blocks
    assert curve.at(-1.0) == pytest.approx(0.25) and curve.at(9.0) == pytest.approx(0.75)  # flat outside


def test_weights_are_monotone_bounded_and_never_zero() -> None:
    margins = [0.05 * i for i in range(1, 21)]
    correct = [False, False, True, False, False, True, False, True, True, False,
               True, True, False, True, True, True, True, True, True, True]
    curve = precision_curve(_cal(margins, correct), n_labels=3)
    grid = [0.01 * i for i in range(0, 120)]
    weights = [curve.at(m) for m in grid]
    assert all(a <= b + 1e-12 for a, b in zip(weights, weights[1:]))
    assert all(0.0 < w < 1.0 for w in weights)
    # a seed set the teacher always gets wrong still weighs its labels above 0 (and at most chance)
    never = precision_curve(_cal([0.1, 0.5, 0.9], [False] * 3), n_labels=2)
    assert never.at(0.5) == pytest.approx((0 + 1) / (3 + 2))  # 0 of 3 right, Laplace


def test_shrinking_a_small_block_never_breaks_the_order() -> None:
    # isotonic: ten seeds at 0.9 precision, then one right one at the top margin; shrunk, the small block would
    # fall below the large one ((1 + 1) / 3 < (9 + 1) / 12): the second isotonic pass pools them
    margins = [0.1 * i for i in range(1, 12)]
    correct = [True] * 9 + [False, True]
    curve = precision_curve(_cal(margins, correct), n_labels=2)
    weights = [curve.at(m) for m in margins]
    assert all(a <= b + 1e-12 for a, b in zip(weights, weights[1:]))
    pooled = (10 * (9 + 1) / (10 + PRIOR_SEEDS) + (1 + 1) / (1 + PRIOR_SEEDS)) / 11
    assert weights == pytest.approx([pooled] * 11)


def test_no_measured_seed_gives_chance() -> None:
    assert precision_curve(_cal([], []), n_labels=4).at(1.0) == pytest.approx(0.25)


def _label_rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Four labelled seeds (the teacher right on the two confident ones) and two pool rows it labels."""
    seeds = pl.DataFrame({"seed_id": ["s0", "s1", "s2", "s3", "p0", "p1"],
                          "input": [f"review {i}" for i in range(6)],
                          "target": ["other", "other", "great", "other", None, None]})
    # (great, other) log-scores: margins 0.2, 0.4 (wrong), 1.5, 2.0 (right); pool rows 0.3 and 1.8
    scores = [(-1.0, -1.2), (-1.0, -1.4), (-0.5, -2.0), (-3.0, -1.0), (-1.0, -1.3), (-0.2, -2.0)]
    n = len(scores)
    expansions = pl.DataFrame({
        "row_id": [f"r{i}" for i in range(n)], "seed_id": seeds["seed_id"].to_list(), "strategy": ["label"] * n,
        "sample_idx": [0] * n, "input": seeds["input"].to_list(), "target": [None] * n, "error": [None] * n,
        "confidence": [None] * n,
        "label_scores": [json.dumps({"great": g, "other": o}) for g, o in scores],
    }, schema_overrides={"target": pl.String, "error": pl.String, "confidence": pl.Float64})
    return seeds, expansions


def _spec(tmp_path: Path, mode: str):
    confidence = {"min_precision": 0.9, "min_support": 2, "calibrate": False, "mode": mode}
    return load_spec(write_spec(tmp_path, filters={"confidence": confidence}, strategies=[{"name": "label"}]))


def test_weight_mode_keeps_low_margin_labels_with_their_weight(tmp_path: Path) -> None:
    seeds, expansions = _label_rows()
    threshold, _ = apply_filters(expansions, seeds, _spec(tmp_path, "threshold"))
    weighted, report = apply_filters(expansions, seeds, _spec(tmp_path, "weight"))
    pool = {"r4", "r5"}
    by_row = {r["row_id"]: r for r in threshold.iter_rows(named=True)}
    assert "confidence_weight" not in threshold.columns
    assert by_row["r4"]["reject_reason"] == "low_confidence" and by_row["r5"]["accepted"]
    kept = weighted.filter(pl.col("row_id").is_in(pool))
    assert kept["accepted"].all() and kept["reject_reason"].null_count() == kept.height
    # the same verdict columns otherwise: only confidence_weight is new, right after the teacher's columns
    assert weighted.drop("confidence_weight").columns == threshold.columns
    curve = precision_curve(_cal([0.2, 0.4, 1.5, 2.0], [False, False, True, True]), n_labels=2)
    for row in weighted.iter_rows(named=True):
        assert row["confidence_weight"] == pytest.approx(curve.at(row["confidence"]))
    low, high = kept.sort("confidence")["confidence_weight"].to_list()
    assert 0.0 < low < high < 1.0 and report.confidence["threshold"] == threshold["min_confidence"][0]


def test_a_round_of_pool_labels_is_weighted_by_round_0s_seed_labels(tmp_path: Path) -> None:
    seeds, expansions = _label_rows()
    spec = _spec(tmp_path, "weight")
    whole, _ = apply_filters(expansions, seeds, spec)
    # round r labels only pool rows; round 0's labels of the labelled seeds measure the teacher for it
    pool = expansions.filter(pl.col("seed_id").str.starts_with("p"))
    later, _ = apply_filters(pool, seeds, spec, reference_labels=expansions)
    assert later["row_id"].to_list() == ["r4", "r5"]
    expected = whole.filter(pl.col("row_id").is_in(["r4", "r5"])).sort("row_id")["confidence_weight"]
    assert later.sort("row_id")["confidence_weight"].to_list() == pytest.approx(expected.to_list())
