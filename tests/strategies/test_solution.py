"""Worked solutions: cut after the '#### N' line, or closed with one from the last number."""

from __future__ import annotations

import pytest

from synth_assets.answers import extract_number
from synth_assets.strategies.solution import worked_solution


@pytest.mark.parametrize(("reply", "solution"), [
    ("13 + 38 = 51\n#### 51", "13 + 38 = 51\n#### 51"),
    ("13 + 38 = 51\n#### 51\nI hope this helps! Another: 12", "13 + 38 = 51\n#### 51"),
    ("She spent 1,200 dollars.\n####   $1,200 dollars", "She spent 1,200 dollars.\n#### 1200"),
    ("43 + 72 + 34 = 149, so there are 149 pets.", "43 + 72 + 34 = 149, so there are 149 pets.\n#### 149"),
    ("#### 7", "#### 7"),
    # SmolLM2-135M echoing the instruction: the echo is no answer, the last number is
    ('Present the answer as "#### <number>".\n\nThe answer is 7.', 'Present the answer as "#### <number>".\n\nThe answer is 7.\n#### 7'),
    ('Last line "#### <number>":\n#### 12', 'Last line "#### <number>":\n#### 12'),
])
def test_worked_solution_ends_with_one_marked_answer(reply: str, solution: str) -> None:
    got, error = worked_solution(reply)
    assert error is None and got == solution
    assert got.splitlines()[-1] == f"#### {extract_number(got)}"


@pytest.mark.parametrize(("reply", "error"), [
    ("", "empty solution"),
    (None, "empty solution"),
    ("I cannot solve this.", "no numeric answer in the solution"),
    ("Let me think.\n#### the answer is unknown", "no numeric answer in the solution"),
])
def test_worked_solution_without_an_answer_is_an_error(reply, error: str) -> None:
    assert worked_solution(reply) == (None, error)
