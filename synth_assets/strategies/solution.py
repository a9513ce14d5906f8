"""Worked solutions in the GSM8K shape (reasoning, then a last line `#### <number>`), from free-form replies.

Every math strategy whose target is a solution goes through here, so students always see one
format: the reasoning is cut after the first `#### N` line (models keep talking after it), and a
reply without the marker is closed with one from its last number, which is the answer it commits
to under `extract_number`.
"""

from __future__ import annotations

import re

from synth_assets.answers import extract_number, normalise_number

_MARKER = re.compile(r"####[^\S\n]*([^\n]*)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def worked_solution(text: str | None) -> tuple[str | None, str | None]:
    """(solution ending '#### N', None) or (None, why the reply holds no usable answer)."""
    text = (text or "").strip()
    if not text:
        return None, "empty solution"
    for marker in _MARKER.finditer(text):
        # '#### $1,200 dollars' is still an answer: the first number on the marker's line. A marker
        # line without one is the prompt's '#### <number>' echoed back, not an answer.
        number = _NUMBER.search(marker.group(1))
        answer = normalise_number(number.group(0)) if number else None
        if answer is not None:
            reasoning = text[: marker.start()].strip()
            break
    else:
        answer = extract_number(text)
        if answer is None:
            return None, "no numeric answer in the solution"
        reasoning = text
    return (f"{reasoning}\n#### {answer}" if reasoning else f"#### {answer}"), None
