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
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.strategies.base import Parsed, Seed, render, sampling_params
from synth_assets.strategies.new_question import new_example_schema, parse_new_example

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec, StrategySpec

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


class ErrorDrivenStrategy:
    name = "error_driven"
    # the fields a prompt template (spec: strategies.N.prompt) may use; {input} is required
    placeholders = ("instruction", "input", "label", "prediction")
    version = "1"
    tasks = ("classification", "math")
    same_problem = False
    dedup_on = ("input",)
    verify_label_default = False

    def response_schema(self, task: str) -> type | None:
        return new_example_schema(task)

    def applies_to(self, seed: Seed) -> bool:
        return seed.prediction is not None and seed.target is not None

    def request(self, spec: PipelineSpec, cfg: StrategySpec, seed: Seed, sample_idx: int) -> GenerationRequest:
        prediction = seed.prediction or ""
        if spec.task == "math":
            template, label = cfg.prompt or MATH_TEMPLATE, seed.target or ""
            prediction = extract_number(prediction) or prediction[:_MAX_PREDICTION_CHARS]
        else:
            template, label = cfg.prompt or TEMPLATE, spec.word_for(seed.target or "")
            prediction = spec.word_for(prediction) if prediction in spec.labels else prediction[:_MAX_PREDICTION_CHARS]
        prompt = render(template, instruction=spec.instruction, input=seed.input, label=label, prediction=prediction)
        return GenerationRequest(messages=(("user", prompt),), params=sampling_params(spec, cfg, sample_idx))

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        parsed = parse_new_example(spec, seed, result)
        parsed.parts = {"student_prediction": seed.prediction}
        return parsed
