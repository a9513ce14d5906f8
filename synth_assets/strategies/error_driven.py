"""Error-driven examples (LLM2LLM, Lee et al., 2024): new examples aimed at what the student got wrong.

Fires only on seeds that carry the student's wrong `prediction` (Seed.prediction, from a
`prediction` column in the seeds frame a round passes to expand); ordinary seeds never have one.
The teacher sees the example, the right answer and the student's answer, and writes a NEW similar
example that tests the same point. Classification keeps the seed's label (like new_question, but
aimed at the mistake); math gets a new problem with a worked solution, checked by
self-consistency (`votes`). Structured JSON, retried once, then an error row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth_assets.answers import extract_number
from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy, target_word
from synth_assets.strategies.new_question import new_example_schema, parse_new_example

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "{instruction}\n\nText: {input}\n\n"
    "The right answer is \"{label}\", but a student model answered \"{prediction}\". "
    "Write one new text, similar to this one but not a copy, that tests the same point, so a student could make "
    "the same mistake on it, and whose right answer is also \"{label}\". "
    'Reply with JSON only: {{"text": "<the new text>"}}'
)
MATH_TEMPLATE = (
    "Problem: {input}\n\n"
    "The right answer is {label}, but a student model answered {prediction}. "
    "Write one new, similar word problem that tests the same skill, with new numbers, so a student could make "
    "the same mistake on it, and solve it step by step, ending the solution with a line \"#### <number>\". "
    'Reply with JSON only: {{"problem": "<the new problem>", "solution": "<the worked solution>"}}'
)
_MAX_PREDICTION_CHARS = 300  # a student's rambling output is cut; the mistake is in its first lines or answer


class ErrorDrivenStrategy(Strategy):
    name = "error_driven"
    template, math_template = TEMPLATE, MATH_TEMPLATE

    def response_schema(self, task: str) -> type | None:
        return new_example_schema(task)

    def applies_to(self, seed: Seed) -> bool:
        return seed.prediction is not None and seed.target is not None

    def fields(self, spec: PipelineSpec, seed: Seed) -> dict[str, str]:
        prediction = seed.prediction or ""
        if spec.task == "math":
            prediction = extract_number(prediction) or prediction[:_MAX_PREDICTION_CHARS]
        else:
            prediction = spec.word_for(prediction) if prediction in spec.labels else prediction[:_MAX_PREDICTION_CHARS]
        return {**super().fields(spec, seed), "label": target_word(spec, seed), "prediction": prediction}

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        parsed = parse_new_example(spec, seed, result)
        parsed.parts = {"student_prediction": seed.prediction}
        return parsed
