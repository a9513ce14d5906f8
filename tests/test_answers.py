"""Numeric answer extraction on the shapes teachers and students really write."""

from __future__ import annotations

import pytest

from synth_assets.answers import extract_number, normalise_number, numbers_match


@pytest.mark.parametrize(("text", "expected"), [
    ("9 apples", "9"),
    ("Janet has 9 and Sharon 7, so together 9 + 7 = 16.\n#### 16", "16"),
    ("#### 1,250 dollars", "1250"),
    ("The answer is 3.50 dollars.", "3.5"),
    ("She had -4 degrees", "-4"),
    ("First 12, then 5 more, so 17 in total", "17"),
    ("#### 8\nThen I said 12", "8"),  # the marked answer wins over later numbers
    ("no numbers here", None),
    ("", None),
    (None, None),
])
def test_extract_number(text: str | None, expected: str | None) -> None:
    assert extract_number(text) == expected


def test_normalise_number() -> None:
    assert normalise_number("2.0") == "2" and normalise_number("0.50") == "0.5" and normalise_number("x") is None
    assert normalise_number("1e3") == "1000" and normalise_number("nan") is None


def test_numbers_match_compares_values_not_strings() -> None:
    assert numbers_match("so the total is 16.0", "16 oranges")
    assert not numbers_match("so the total is 15", "16 oranges")
    assert not numbers_match("I do not know", "16")


def test_math_metrics() -> None:
    from synth_assets.evaluation.metrics import math_metrics

    got = math_metrics(["16", "9", "4"], ["so 16 in all.\n#### 16", "9", None], ["numeric_match", "exact_match"])
    assert got == {"numeric_match": 2 / 3, "exact_match": 1 / 3}
