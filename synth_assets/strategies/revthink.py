"""RevThink (Chen et al., 2024, "Reverse Thinking Makes LLMs Stronger Reasoners"): forward and backward reasoning.

One structured call per sample returns the forward solution, a backward question (the problem
inverted: its answer given, one original quantity hidden and asked for), the number that was
hidden, and the backward solution. The row's target is the forward solution; the backward parts
are kept in `parts`. The consistency filter keeps a row only if the forward answer is the seed's
answer and the backward answer is the hidden number, which must be a number of the original
problem (`answer_mismatch` / `backward_mismatch`). A reply missing any part is an error row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, field_validator

from synth_assets.answers import extract_number
from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy
from synth_assets.strategies.solution import worked_solution
from synth_assets.strategies.structured import Content, parse_json_reply

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "Problem: {input}\n\n"
    "Reply with JSON only, an object with these four fields:\n"
    "\"forward_reasoning\": solve the problem step by step, ending with a line \"#### <answer>\".\n"
    "\"backward_question\": the reverse problem: state your answer as a known fact, hide one number of the "
    "original problem and ask for it.\n"
    "\"hidden_value\": the number you hid.\n"
    "\"backward_reasoning\": solve the reverse problem step by step, ending with a line \"#### <hidden number>\"."
)


class RevThinkReply(BaseModel):
    forward_reasoning: Content
    backward_question: Content
    hidden_value: str
    backward_reasoning: Content

    @field_validator("hidden_value", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> str:
        # models write 13, "13" or "13 trucks"; what matters is that one number is there
        number = extract_number(str(value)) if isinstance(value, (int, float, str)) else None
        if number is None:
            raise ValueError("must be the number that was hidden")
        return number


class RevThinkStrategy(Strategy):
    """Needs a labelled seed (the default): the forward answer is verified against the seed's."""

    name = "revthink"
    dedup_on = ("input", "target")
    template = TEMPLATE

    def response_schema(self, task: str) -> type | None:
        return RevThinkReply

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        reply, error = parse_json_reply(result.text, RevThinkReply)
        if reply is None:
            return Parsed(input=seed.input, target=None, error=error)
        forward, error = worked_solution(reply.forward_reasoning)
        if error:
            return Parsed(input=seed.input, target=None, error=f"forward_reasoning: {error}")
        backward, error = worked_solution(reply.backward_reasoning)
        if error:
            return Parsed(input=seed.input, target=forward, error=f"backward_reasoning: {error}")
        parts = {
            "backward_question": reply.backward_question.strip(),
            "backward_reasoning": backward,
            "hidden_value": reply.hidden_value,
            "backward_answer": extract_number(backward),
        }
        return Parsed(input=seed.input, target=forward, parts=parts)
