"""New question / new example ("Balancing Cost"): fresh inputs in the style of a seed, with its label.

The costliest of the three augmentations per useful row, and the one that adds the most
diversity. The reply is structured (JSON with a `text` field) and validated; a malformed reply
is asked for once more, then becomes an error row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.strategies.base import Parsed, Seed, render, sampling_params
from synth_assets.strategies.structured import parse_json_reply

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec, StrategySpec

TEMPLATE = (
    "Here is an example text whose answer is \"{label}\":\n\n{input}\n\n"
    "Write one new, different text on another subject in the same style whose answer is also \"{label}\". "
    'Reply with JSON only: {"text": "<the new text>"}'
)


class NewText(BaseModel):
    text: str = Field(min_length=1)


class NewQuestionStrategy:
    name = "new_question"
    version = "1"
    tasks = ("classification",)
    response_schema = NewText

    def applies_to(self, seed: Seed) -> bool:
        return seed.target is not None

    def request(self, spec: PipelineSpec, cfg: StrategySpec, seed: Seed, sample_idx: int) -> GenerationRequest:
        label = spec.word_for(seed.target or "")
        prompt = render(cfg.prompt or TEMPLATE, instruction=spec.instruction, input=seed.input, label=label)
        return GenerationRequest(messages=(("user", prompt),), params=sampling_params(spec, cfg, sample_idx))

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        reply, error = parse_json_reply(result.text, NewText)
        if reply is None:
            return Parsed(input=None, target=seed.target, error=error)
        return Parsed(input=reply.text.strip(), target=seed.target)
