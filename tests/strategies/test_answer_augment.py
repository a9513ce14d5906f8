"""answer_augment: the seed problem in, a worked solution ending '#### N' out; real SmolLM2 replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from synth_assets.answers import extract_number, numbers_match
from synth_assets.inference.base import GenerationResult
from synth_assets.spec import StrategySpec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.base import sampling_params

STRATEGY = STRATEGIES["answer_augment"]


@pytest.fixture
def spec(tmp_path: Path):
    return spec_for("math", tmp_path)


def test_prompt_renders_as_recorded_and_asks_for_the_marker(spec) -> None:
    for record in records("answer_augment", "math"):
        prompt = rendered_prompt(spec, record)
        assert prompt == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        assert record["seed"]["input"] in prompt[0][1] and "#### <number>" in prompt[0][1]


def test_k_samples_are_k_different_sampled_calls(spec) -> None:
    cfg = StrategySpec(name="answer_augment", samples=4)
    seed = Seed("m1", "Two plus two?", "4")
    reqs = [STRATEGY.request(spec, cfg, seed, i) for i in range(4)]
    assert len({r.cache_key("m", STRATEGY.name, STRATEGY.version) for r in reqs}) == 4
    assert all(r.params.temperature > 0 for r in reqs) and sampling_params(spec, cfg, 0).temperature > 0


def test_real_replies_parse_to_worked_solutions(spec) -> None:
    # SmolLM2-135M writes no '####'; its last number is the answer it commits to, and it is wrong here
    for record in records("answer_augment", "math"):
        parsed = STRATEGY.parse(spec, seed_of(record), reply(record))
        assert parsed.error is None and parsed.input == record["seed"]["input"]
        assert parsed.target.startswith(record["reply"].strip())
        assert extract_number(parsed.target) == extract_number(record["reply"])
        assert not numbers_match(parsed.target, record["seed"]["target"])  # what answer_mismatch will reject


@pytest.mark.parametrize("text", ["", None, "I am not sure how to solve this one."])
def test_reply_without_an_answer_is_an_error_row(spec, text) -> None:
    parsed = STRATEGY.parse(spec, Seed("m1", "Two plus two?", "4"), GenerationResult(text=text))
    assert parsed.error and parsed.target is None
