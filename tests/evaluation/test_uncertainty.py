"""Uncertainty for active selection: margin and entropy rank the rows nearest the boundary first."""

from __future__ import annotations

import math

import pytest

from synth_assets.evaluation.uncertainty import most_uncertain, uncertainty
from synth_assets.training.base import Prediction

SURE = Prediction("great", {"great": 0.95, "other": 0.05})
EDGE = Prediction("great", {"great": 0.52, "other": 0.48})
LEANING = Prediction("other", {"great": 0.3, "other": 0.7})


def test_margin_and_entropy_values() -> None:
    assert uncertainty(EDGE, "margin") == pytest.approx(0.96)
    assert uncertainty(SURE, "margin") == pytest.approx(0.1)
    assert uncertainty(EDGE, "entropy") == pytest.approx(-(0.52 * math.log(0.52) + 0.48 * math.log(0.48)))
    with pytest.raises(ValueError, match="unknown selection"):
        uncertainty(EDGE, "vibes")


@pytest.mark.parametrize("selection", ["margin", "entropy"])
def test_most_uncertain_first(selection: str) -> None:
    chosen = most_uncertain(["sure", "edge", "leaning"], [SURE, EDGE, LEANING], selection, 2, salt="r1")
    assert [i for i, _ in chosen] == ["edge", "leaning"]
    assert chosen[0][1] > chosen[1][1]


def test_three_labels_margin_and_entropy_disagree() -> None:
    # two labels tied on top, third at zero vs an even three-way spread: margin prefers the tie, entropy the spread
    tie = Prediction("a", {"a": 0.5, "b": 0.5, "c": 0.0})
    spread = Prediction("a", {"a": 0.4, "b": 0.3, "c": 0.3})
    ids, preds = ["tie", "spread"], [tie, spread]
    assert most_uncertain(ids, preds, "margin", 1, "")[0][0] == "tie"
    assert most_uncertain(ids, preds, "entropy", 1, "")[0][0] == "spread"


def test_random_is_a_stable_shuffle_per_round() -> None:
    ids = [f"row{i}" for i in range(50)]
    first = most_uncertain(ids, None, "random", 10, salt="round-1")
    assert first == most_uncertain(list(reversed(ids)), None, "random", 10, salt="round-1")
    assert first != most_uncertain(ids, None, "random", 10, salt="round-2")
    assert all(u is None for _, u in first) and len({i for i, _ in first}) == 10
