"""Answer augmentation ("Balancing Cost"): several reasoning paths per seed problem.

The teacher solves the seed's problem step by step, ending `#### N`; `samples: k` buys k sampled
paths. The row's input is the seed problem and its target the worked solution, so a student learns
to reason, not only to answer. The paper finds this the cheapest augmentation per useful row when
the seed problems are good and the teacher is strong. A path whose answer is not the seed's is
rejected by the consistency filter (`answer_mismatch`), never silently kept. The same prompt
re-solves generated problems for self-consistency votes (strategies/votes.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy
from synth_assets.strategies.solution import worked_solution

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "Solve the following math word problem. Think step by step, then give the final answer "
    "on a last line of the form \"#### <number>\".\n\nProblem: {input}"
)


class AnswerAugmentStrategy(Strategy):
    name = "answer_augment"
    # every path repeats the seed's problem: two paths are the same example only if the solutions match
    dedup_on = ("input", "target")
    template = TEMPLATE

    def applies_to(self, seed: Seed) -> bool:
        return True  # unlabelled problems get paths too; only known answers can verify them

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        solution, error = worked_solution(result.text)
        return Parsed(input=seed.input, target=solution, error=error)
