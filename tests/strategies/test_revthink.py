"""revthink: forward solution, backward question, hidden number and backward solution from one JSON reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from synth_assets.inference.base import GenerationResult
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.revthink import RevThinkReply

STRATEGY = STRATEGIES["revthink"]
SEED = Seed("m1", "Sarah had some trucks. She gave 13 to Jeff, and now she has 38 trucks left. How many trucks did Sarah have?", "51")
GOOD = {
    "forward_reasoning": "She had 38 + 13 = 51 trucks.\n#### 51",
    "backward_question": "Sarah had 51 trucks and gave some to Jeff; 38 are left. How many did she give?",
    "hidden_value": 13,
    "backward_reasoning": "51 - 38 = 13\n#### 13",
}


@pytest.fixture
def spec(tmp_path: Path):
    return spec_for("math", tmp_path)


def test_prompt_renders_as_recorded_and_names_every_part(spec) -> None:
    assert STRATEGY.response_schema("math") is RevThinkReply
    for record in records("revthink", "math"):
        prompt = rendered_prompt(spec, record)
        assert prompt == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        assert all(f'"{field}"' in prompt[0][1] for field in RevThinkReply.model_fields)


def test_real_replies_are_error_rows_not_crashes(spec) -> None:
    # SmolLM2-135M answers in prose: no JSON, so an error row (retried once by expand)
    for record in records("revthink", "math"):
        parsed = STRATEGY.parse(spec, seed_of(record), reply(record))
        assert parsed.error == "no JSON object in the reply" and parsed.target is None
        assert parsed.input == record["seed"]["input"]


def test_well_formed_reply_keeps_every_part(spec) -> None:
    parsed = STRATEGY.parse(spec, SEED, GenerationResult(text="```json\n" + json.dumps(GOOD) + "\n```"))
    assert parsed.error is None and parsed.input == SEED.input
    assert parsed.target == "She had 38 + 13 = 51 trucks.\n#### 51"
    assert parsed.parts == {"backward_question": GOOD["backward_question"], "backward_reasoning": "51 - 38 = 13\n#### 13",
                            "hidden_value": "13", "backward_answer": "13"}


@pytest.mark.parametrize(("change", "error"), [
    ({"hidden_value": "several"}, "schema: hidden_value"),
    ({"hidden_value": None}, "schema: hidden_value"),
    ({"backward_question": "<the reverse problem>"}, "schema: backward_question"),
    ({"forward_reasoning": "I am not sure."}, "forward_reasoning: no numeric answer"),
    ({"backward_reasoning": "It cannot be known."}, "backward_reasoning: no numeric answer"),
])
def test_a_missing_or_unusable_part_is_an_error_row(spec, change: dict, error: str) -> None:
    parsed = STRATEGY.parse(spec, SEED, GenerationResult(text=json.dumps({**GOOD, **change})))
    assert parsed.error and parsed.error.startswith(error)


def test_truncated_json_is_an_error_row(spec) -> None:
    parsed = STRATEGY.parse(spec, SEED, GenerationResult(text=json.dumps(GOOD)[:-20]))
    assert parsed.error and parsed.error.startswith(("invalid JSON", "no JSON object"))
