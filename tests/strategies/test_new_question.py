"""new_question for math: a new problem plus a worked solution as JSON; real SmolLM2 replies and malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from synth_assets.inference.base import GenerationResult
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.new_question import NewProblem, NewText

STRATEGY = STRATEGIES["new_question"]
SEED = Seed("m1", "Sarah had some trucks. She gave 13 to Jeff, and now she has 38 left. How many did she have?", "51")


@pytest.fixture
def spec(tmp_path: Path):
    return spec_for("math", tmp_path)


def test_schema_follows_the_task() -> None:
    assert STRATEGY.response_schema("math") is NewProblem and STRATEGY.response_schema("classification") is NewText
    assert not STRATEGY.same_problem  # the seed's answer is not the new problem's


def test_math_prompt_renders_as_recorded(spec) -> None:
    for record in records("new_question", "math"):
        prompt = rendered_prompt(spec, record)
        assert prompt == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        assert '"problem"' in prompt[0][1] and '"solution"' in prompt[0][1]


def test_real_replies_without_json_are_error_rows(spec) -> None:
    for record in records("new_question", "math"):
        parsed = STRATEGY.parse(spec, seed_of(record), reply(record))
        assert parsed.error == "no JSON object in the reply" and parsed.input is None


def test_well_formed_reply_gives_problem_and_worked_solution(spec) -> None:
    text = ('Sure! {"problem": "Tom had some apples. He ate 4 and has 9 left. How many did he have?", '
            '"solution": "He had 9 + 4 = 13 apples.\\n#### 13\\nDone."}')
    parsed = STRATEGY.parse(spec, SEED, GenerationResult(text=text))
    assert parsed.error is None
    assert parsed.input == "Tom had some apples. He ate 4 and has 9 left. How many did he have?"
    assert parsed.target == "He had 9 + 4 = 13 apples.\n#### 13"


@pytest.mark.parametrize(("text", "error"), [
    ('{"problem": "<the new problem>", "solution": "<the worked solution>"}', "schema: problem: Value error"),
    ('{"problem": "How many?", "solution": "I do not know"}', "no numeric answer"),
    ('{"problem": "How many?"}', "schema: solution: Field required"),
])
def test_malformed_math_replies_are_error_rows(spec, text: str, error: str) -> None:
    parsed = STRATEGY.parse(spec, SEED, GenerationResult(text=text))
    assert parsed.error and error in parsed.error and parsed.target is None
