"""New question / new example ("Balancing Cost"): fresh inputs in the style of a seed.

The costliest augmentation per useful row, and the one that adds the most diversity.
Classification: a new text that keeps the seed's label. Math: a new word problem with the
teacher's worked solution ending `#### N`; the seed's answer says nothing about it, so its answer
is checked by self-consistency (`votes` re-solves, filters/consistency.py). The reply is
structured JSON validated by a pydantic schema; a malformed reply is asked for once more, then
becomes an error row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy, target_word
from synth_assets.strategies.solution import worked_solution
from synth_assets.strategies.structured import Content, parse_json_reply

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "Here is an example text whose answer is \"{label}\":\n\n{input}\n\n"
    "Write one new, different text on another subject in the same style whose answer is also \"{label}\". "
    'Reply with JSON only: {{"text": "<the new text>"}}'
)
MATH_TEMPLATE = (
    "Here is a math word problem:\n\n{input}\n\n"
    "Write one new word problem of the same kind, with a new story and new numbers, and solve it step by step. "
    "End the solution with a line \"#### <number>\" giving the final answer. "
    'Reply with JSON only: {{"problem": "<the new problem>", "solution": "<the worked solution>"}}'
)


class NewText(BaseModel):
    text: Content


class NewProblem(BaseModel):
    problem: Content
    solution: Content


def new_example_schema(task: str) -> type:
    """The reply schema of a strategy that writes new examples (new_question, error_driven)."""
    return NewProblem if task == "math" else NewText


def parse_new_example(spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
    """A new example, or an error row: math, a new problem with its worked solution; classification,
    a new text that keeps the seed's label. Shared with error_driven."""
    if spec.task == "math":
        reply, error = parse_json_reply(result.text, NewProblem)
        if reply is None:
            return Parsed(input=None, target=None, error=error)
        solution, error = worked_solution(reply.solution)
        return Parsed(input=reply.problem.strip(), target=solution, error=error)
    text_reply, error = parse_json_reply(result.text, NewText)
    if text_reply is None:
        return Parsed(input=None, target=seed.target, error=error)
    return Parsed(input=text_reply.text.strip(), target=seed.target)


class NewQuestionStrategy(Strategy):
    name = "new_question"
    # the classification prompt is unchanged since "1"; the math prompt is new text, so new cache keys anyway
    version = "1"
    template, math_template = TEMPLATE, MATH_TEMPLATE

    def response_schema(self, task: str) -> type | None:
        return new_example_schema(task)

    def fields(self, spec: PipelineSpec, seed: Seed) -> dict[str, str]:
        return {**super().fields(spec, seed), "label": target_word(spec, seed)}

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        return parse_new_example(spec, seed, result)
