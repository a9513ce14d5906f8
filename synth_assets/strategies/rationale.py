"""Rationales ("distilling step by step", Hsieh et al. 2023): the teacher explains why a seed's known answer is right.

The row keeps the seed's input and target and adds the explanation as `rationale`, which is
carried through filtered into train_set so an explanation-aware student can train on
(input → rationale, target); a student that reads only input and target sees the seed once more.
For math the explanation must reach the seed's answer (checked by the consistency filter).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy, target_word

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "{instruction}\n\nText: {input}\n\n"
    "The correct answer is \"{label}\". Explain in two or three sentences why this answer is right. "
    "Reply with the explanation only."
)
MATH_TEMPLATE = (
    "Problem: {input}\n\n"
    "The correct answer is {label}. Explain step by step why, and end with a line \"#### {label}\"."
)
_LEAD_IN = re.compile(r"^\s*(sure[,!.]?\s*)?(here('s| is) (the |an? )?)?(explanation|rationale|reason(ing)?)\s*:\s*", re.I)


class RationaleStrategy(Strategy):
    name = "rationale"
    # the seed's own input and target: what makes a row new is its explanation
    dedup_on = ("input", "rationale")
    template, math_template = TEMPLATE, MATH_TEMPLATE

    def fields(self, spec: PipelineSpec, seed: Seed) -> dict[str, str]:
        return {**super().fields(spec, seed), "label": target_word(spec, seed)}

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        text = _LEAD_IN.sub("", (result.text or "").strip(), count=1).strip()
        if not text:
            return Parsed(input=seed.input, target=seed.target, error="empty rationale")
        return Parsed(input=seed.input, target=seed.target, rationale=text)
