"""Prompt rendering and reply parsing, on replies shaped like SmolLM2's and on malformed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_spec
from synth_assets.inference.base import GenerationResult
from synth_assets.spec import StrategySpec, load_spec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.base import sampling_params

SEED = Seed("s1", "The chips were stale and broken.", "other")


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(write_spec(tmp_path))


def test_label_request_scores_label_words(spec) -> None:
    req = STRATEGIES["label"].request(spec, StrategySpec(name="label"), SEED, 0)
    prompt = req.messages[0][1]
    assert req.choices == ("yes", "no")
    assert spec.instruction in prompt and SEED.input in prompt and "yes or no" in prompt


def test_label_parse_maps_words_back_to_labels(spec) -> None:
    parsed = STRATEGIES["label"].parse(spec, SEED, GenerationResult(text="no", choice_logprobs={"yes": -2.0, "no": -0.5}))
    assert parsed.target == "other" and parsed.confidence == pytest.approx(1.5)
    assert parsed.label_scores == {"great": -2.0, "other": -0.5}
    missing = STRATEGIES["label"].parse(spec, SEED, GenerationResult(text="no", choice_logprobs={"no": -0.5}))
    assert missing.error and "miss labels" in missing.error
    none = STRATEGIES["label"].parse(spec, SEED, GenerationResult(text="no"))
    assert none.error == "teacher returned no label scores"


def test_prompt_override_from_spec(spec) -> None:
    cfg = StrategySpec(name="rephrase", prompt="Say it again: {input}")
    req = STRATEGIES["rephrase"].request(spec, cfg, SEED, 0)
    assert req.messages == (("user", "Say it again: The chips were stale and broken."),)


@pytest.mark.parametrize("reply, expected", [
    ("The crisps came stale and in pieces.", "The crisps came stale and in pieces."),
    ("Rewritten text: The crisps came stale and in pieces.", "The crisps came stale and in pieces."),
    ("Sure! Here is the rewritten review: \"The crisps came stale.\"", "The crisps came stale."),
])
def test_rephrase_parse_strips_lead_ins(spec, reply: str, expected: str) -> None:
    parsed = STRATEGIES["rephrase"].parse(spec, SEED, GenerationResult(text=reply))
    assert parsed.input == expected and parsed.target == "other" and parsed.error is None


@pytest.mark.parametrize("reply", ["", "   ", "Rewritten text:", None])
def test_rephrase_empty_reply_is_an_error_row(spec, reply) -> None:
    parsed = STRATEGIES["rephrase"].parse(spec, SEED, GenerationResult(text=reply))
    assert parsed.error == "empty rewrite"


def test_rephrase_needs_a_label_and_samples_differ(spec) -> None:
    assert not STRATEGIES["rephrase"].applies_to(Seed("p", "unlabelled pool text", None))
    cfg = StrategySpec(name="rephrase", samples=3)
    params = [sampling_params(spec, cfg, i) for i in range(3)]
    assert len({p.seed for p in params}) == 3 and all(p.temperature > 0 for p in params)


def test_top_logprobs_from_the_spec_reach_the_request_and_the_expansions_row(tmp_path: Path) -> None:
    import json

    import polars as pl

    from synth_assets.inference.cache import TeacherCache
    from synth_assets.inference.session import TeacherSession
    from synth_assets.inference.budget import teacher_budget
    from synth_assets.inference.fake_backend import FakeBackend
    from synth_assets.strategies.expand import expand

    # no label strategy to check the rewrites with: this test reads only the rewrites' own calls
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "rephrase", "top_logprobs": 3, "verify_label": False}]))
    req = STRATEGIES["rephrase"].request(spec, spec.strategies[0], SEED, 0)
    assert req.params.top_logprobs == 3
    seeds = pl.DataFrame({"seed_id": ["s1", "s2"], "input": [SEED.input, "Lovely tea, will buy again."],
                          "target": ["other", "great"]})
    df, _ = expand(spec, seeds, TeacherSession(FakeBackend(), TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    for row in df.iter_rows(named=True):
        entries = json.loads(row["token_logprobs"])
        assert [e[0] for e in entries] == row["raw_output"].split()
        assert all(len(e[2]) == 3 for e in entries)
    # served from the cache the second time, log-probs included
    again, stats = expand(spec, seeds, TeacherSession(FakeBackend(), TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert stats.calls == 0 and again["token_logprobs"].to_list() == df["token_logprobs"].to_list()
