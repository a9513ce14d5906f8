"""Teacher labelling of seeds and an unlabelled pool (PGKD, "teacher annotates, student learns").

The teacher scores each label word's log-probability rather than generating a label: a small
model is near chance when generating but ranks label words usefully, and the margin between the
best and second-best label is the confidence that the filters use. Labelled seeds are labelled
too: they measure how often the teacher is right at each confidence, which sets the threshold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.strategies.base import Parsed, Seed, Strategy, render

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec, StrategySpec

TEMPLATE = "{instruction}\n\nText: {input}\n\nAnswer with one word: {choices}."


class LabelStrategy(Strategy):
    name = "label"
    # 2: label words are scored by their first token on every backend (inference/label_words.py), not
    # the sum over their tokens: scores cached under version 1 differ for words of several tokens
    version = "2"
    scores_labels = True
    template = TEMPLATE

    def applies_to(self, seed: Seed) -> bool:
        return True

    def request(self, spec: PipelineSpec, cfg: StrategySpec, seed: Seed, sample_idx: int) -> GenerationRequest:
        words = tuple(spec.word_for(label) for label in spec.labels)
        prompt = render(self.template_for(spec, cfg), **self.fields(spec, seed), choices=" or ".join(words))
        # scoring is deterministic: sampling params are fixed so they never split the cache
        return GenerationRequest(messages=(("user", prompt),), params=SamplingParams(max_new_tokens=1), choices=words)

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        if not result.choice_logprobs:
            return Parsed(input=seed.input, target=None, error="teacher returned no label scores")
        by_word = {spec.word_for(label): label for label in spec.labels}
        missing = set(by_word) - set(result.choice_logprobs)
        if missing:
            return Parsed(input=seed.input, target=None, error=f"teacher scores miss labels {sorted(missing)}")
        scores = {by_word[w]: float(lp) for w, lp in result.choice_logprobs.items() if w in by_word}
        ranked = sorted(scores.values(), reverse=True)
        best = max(scores, key=scores.__getitem__)
        return Parsed(input=seed.input, target=best, confidence=ranked[0] - ranked[1], label_scores=scores)
