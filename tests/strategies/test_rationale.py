"""rationale: the teacher explains a known label or answer; the explanation is kept, the target is the seed's."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from synth_assets.answers import numbers_match
from synth_assets.inference.base import GenerationResult
from synth_assets.strategies import STRATEGIES, Seed

STRATEGY = STRATEGIES["rationale"]


@pytest.mark.parametrize("task", ["classification", "math"])
def test_prompt_states_the_known_answer_and_renders_as_recorded(tmp_path: Path, task: str) -> None:
    spec = spec_for(task, tmp_path)
    for record in records("rationale", task):
        prompt = rendered_prompt(spec, record)
        assert prompt == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        shown = record["seed"]["target"] if task == "math" else spec.word_for(record["seed"]["target"])
        assert f"The correct answer is {shown}" in prompt[0][1] or f'The correct answer is "{shown}"' in prompt[0][1]


@pytest.mark.parametrize("task", ["classification", "math"])
def test_real_replies_become_rationales_with_the_seed_target(tmp_path: Path, task: str) -> None:
    spec = spec_for(task, tmp_path)
    for record in records("rationale", task):
        parsed = STRATEGY.parse(spec, seed_of(record), reply(record))
        assert parsed.error is None
        assert (parsed.input, parsed.target) == (record["seed"]["input"], record["seed"]["target"])
        assert parsed.rationale == record["reply"].strip()


def test_recorded_math_rationale_reaches_the_seed_answer(tmp_path: Path) -> None:
    # the consistency filter keeps a math rationale only if it ends at the seed's answer
    (record,) = records("rationale", "math")
    assert numbers_match(STRATEGY.parse(spec_for("math", tmp_path), seed_of(record), reply(record)).rationale, "51")


@pytest.mark.parametrize(("text", "rationale"), [
    ("Explanation: the reviewer loves the tea.", "the reviewer loves the tea."),
    ("Sure! Here is the rationale: it praises the taste.", "it praises the taste."),
])
def test_lead_ins_are_stripped(tmp_path: Path, text: str, rationale: str) -> None:
    parsed = STRATEGY.parse(spec_for("classification", tmp_path), Seed("c1", "Lovely tea.", "great"), GenerationResult(text=text))
    assert parsed.rationale == rationale


@pytest.mark.parametrize("text", ["", None, "  Explanation:  "])
def test_empty_reply_is_an_error_row(tmp_path: Path, text) -> None:
    parsed = STRATEGY.parse(spec_for("classification", tmp_path), Seed("c1", "Lovely tea.", "great"), GenerationResult(text=text))
    assert parsed.error == "empty rationale" and parsed.rationale is None
