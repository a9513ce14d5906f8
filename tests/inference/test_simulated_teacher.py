"""The simulated teacher behind bench/bench_teacher_strength.py is the teacher it claims to be: seconds, no model."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from simulated_teacher import SimulatedTeacher, start

from synth_assets.inference.base import GenerationRequest
from synth_assets.inference.openai_backend import OpenAIBackend

WORDS = ["theft", "access", "loss", "hacking", "disposal"]
N = 4000


def _gold(words: list[str], n: int = N) -> dict[str, str]:
    rng = random.Random(1)
    return {f"report {i}: {rng.random():.6f}": rng.choice(words) for i in range(n)}


@pytest.mark.parametrize("words", [["great", "bad"], WORDS], ids=["binary", "five_labels"])
@pytest.mark.parametrize("accuracy", [0.55, 0.8, 0.95])
def test_gold_wins_at_the_requested_accuracy_and_right_answers_have_larger_margins(words: list[str], accuracy: float) -> None:
    gold = _gold(words)
    teacher = SimulatedTeacher(gold, words, accuracy)
    draws = {text: teacher.draw(text) for text in gold}
    wins = sum(d.best == gold[t] for t, d in draws.items())
    se = math.sqrt(accuracy * (1 - accuracy) / N)
    assert abs(wins / N - accuracy) < 4 * se  # 4 standard errors: a false alarm about once in 16,000 runs
    right = [d.margin for d in draws.values() if d.right]
    wrong = [d.margin for d in draws.values() if not d.right]
    assert statistics.mean(right) > statistics.mean(wrong)
    # informative, not perfect: some wrong answers are more confident than the typical right one
    assert max(wrong) > statistics.median(right)
    # the margin is the gap the scores show, and every label's probability is at most 1 in sum
    for d in list(draws.values())[:200]:
        ranked = sorted(d.logprobs.values(), reverse=True)
        assert ranked[0] == d.logprobs[d.best] and math.isclose(ranked[0] - ranked[1], d.margin)
        assert sum(map(math.exp, d.logprobs.values())) + math.exp(d.rest) == pytest.approx(1.0)


def test_draws_are_deterministic_and_rightness_grows_with_accuracy() -> None:
    gold = _gold(WORDS, 500)
    weak, strong = SimulatedTeacher(gold, WORDS, 0.6), SimulatedTeacher(gold, WORDS, 0.9)
    assert all(weak.draw(t) == SimulatedTeacher(gold, WORDS, 0.6).draw(t) for t in gold)
    assert all(strong.draw(t).right for t in gold if weak.draw(t).right)


def test_synths_openai_backend_reads_the_teachers_label_and_margin() -> None:
    gold = _gold(WORDS, 120)
    teacher = SimulatedTeacher(gold, WORDS, 0.7)
    fleet = start(teacher)
    try:
        requests = [GenerationRequest(messages=(("user", f"Which kind of breach?\n\n<text>{t}</text>\n\nAnswer:"),),
                                      choices=tuple(WORDS)) for t in gold]
        results = OpenAIBackend("sim", fleet.urls, concurrency=8).generate(requests)
    finally:
        fleet.close()
    for text, result in zip(gold, results):
        draw = teacher.draw(text)
        assert result.error is None and result.text == draw.best
        assert result.choice_logprobs == pytest.approx(draw.logprobs)
    assert teacher.seen["right"] + teacher.seen["wrong"] == len(gold) and not teacher.seen["unknown"]


def test_unknown_texts_and_generation_requests_are_answered() -> None:
    teacher = SimulatedTeacher({"known": "great"}, ["great", "bad"], 0.9)
    text, top = teacher("<text>never seen</text>", {"max_tokens": 1, "logprobs": True})
    assert text in ("great", "bad") and {t for t, _ in top} >= {"great", "bad"} and teacher.seen["unknown"] == 1
    text, _ = teacher("Rewrite: <text>Tasty. Would buy again.</text>", {"max_tokens": 64})
    assert "Would buy again." in text and "Tasty." in text


def test_a_rewrite_is_scored_against_the_gold_label_of_the_text_it_paraphrases() -> None:
    gold = {f"review {i}. Fine {i}.": ("great" if i % 2 else "bad") for i in range(400)}
    sources, donors = list(gold)[:200], tuple(list(gold)[200:])
    faithful = SimulatedTeacher(gold, ["great", "bad"], 0.9)
    drifting = SimulatedTeacher(gold, ["great", "bad"], 0.9, drift=0.3, donors=donors)
    lost = 0
    for text in sources:
        first, second = faithful.rewrite(text, 0), faithful.rewrite(text, 1)
        assert first != second and faithful.rewrite(text, 0) == first  # per sample its own, the same on every call
        assert faithful.gold_of(first) == gold[text] and faithful.draw(first).right is not None
        reply, _ = faithful(f"Rewrite: <text>{text}</text>", {"max_tokens": 64, "seed": 3})
        assert faithful.gold_of(reply) == gold[text]
        moved = drifting.rewrite(text, 0)
        lost += drifting.gold_of(moved) != gold[text]
    assert 0.2 < lost / len(sources) < 0.4  # about `drift` of the rewrites took another label's text
    # labelled through the server, a rewrite is right about as often as any known text
    rewrites = [faithful.rewrite(t, 2) for t in sources]
    right = sum(faithful(f"Label: <text>{r}</text>", {"max_tokens": 1})[0] == faithful.gold_of(r) for r in rewrites)
    assert 0.8 < right / len(rewrites) <= 1.0
