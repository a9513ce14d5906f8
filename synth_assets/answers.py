"""Answers: where a reply states its answer and when two answers agree.

GSM8K-style solutions end with `#### <answer>`; replies without that marker are read by their last
number, which is what "numeric answer match" means in the math-distillation papers.

A leaf module (it imports nothing from synth_assets): sources, strategies, filters and evaluation
all read answers the same way, and none of them has to import another to do it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Protocol

_MARKED = re.compile(r"####\s*(-?[\d,]*\.?\d+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalise_number(text: str) -> str | None:
    """Canonical decimal text of a number ('1,000' -> '1000', '3.50' -> '3.5'); None if it is not one."""
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def extract_number(text: str | None) -> str | None:
    """The answer a reply commits to: the number after '####', else the last number in it."""
    if not text:
        return None
    marked = _MARKED.findall(text)
    candidates = marked or _NUMBER.findall(text)
    for candidate in reversed(candidates):
        number = normalise_number(candidate)
        if number is not None:
            return number
    return None


def numbers_in(text: str | None) -> set[str]:
    """Every number a text mentions, normalised: what a problem's quantities are."""
    found = (normalise_number(n) for n in _NUMBER.findall(text or ""))
    return {n for n in found if n is not None}


def numbers_match(prediction: str | None, target: str | None) -> bool:
    """Whether a reply's answer equals the target's answer as numbers (not as strings)."""
    got, want = extract_number(prediction), extract_number(target)
    return got is not None and got == want


class HasTask(Protocol):
    """What is_correct reads of a pipeline spec: its task."""

    task: str


def is_correct(spec: HasTask, prediction: str | None, target: str | None) -> bool:
    """Right answer for the task: the same label, or the same number for a math problem."""
    if spec.task == "math":
        return numbers_match(prediction, target)
    return prediction is not None and prediction == target
