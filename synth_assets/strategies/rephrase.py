"""Question/text rephrase ("Balancing Cost"): new wording of a labelled seed that keeps its label.

A small model's rewrite can lose the meaning the label rests on, so in a classification task the
teacher re-labels each rewrite (verify_label, on by default) and the row keeps the seed's label only
when the teacher agrees, confidently (a math task has no labels to check).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from synth_assets.inference.base import GenerationResult
from synth_assets.strategies.base import Parsed, Seed, Strategy

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

TEMPLATE = (
    "Rewrite the following text in different words. Keep its meaning, its tone and its opinion. "
    "Reply with the rewritten text only.\n\nText: {input}"
)
# A rephrased word problem must keep every quantity, or the seed's answer no longer fits it.
MATH_TEMPLATE = (
    "Rewrite the following math word problem in different words. Keep every number and ask the same question. "
    "Reply with the rewritten problem only.\n\nProblem: {input}"
)
# Small models like to announce their answer; these lead-ins are not part of the rewrite.
_LEAD_IN = re.compile(r"^\s*(sure[,!.]?\s*)?(here('s| is) (the |a )?)?(rewritten|paraphrased|new)?\s*(text|version|review)?\s*:\s*", re.I)


def clean_rewrite(text: str | None) -> str:
    """A rewritten text without the lead-in and quotes small models wrap it in."""
    return _LEAD_IN.sub("", (text or "").strip(), count=1).strip().strip('"').strip()


class RephraseStrategy(Strategy):
    name = "rephrase"
    template, math_template = TEMPLATE, MATH_TEMPLATE

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        text = clean_rewrite(result.text)
        if not text:
            return Parsed(input=None, target=seed.target, error="empty rewrite")
        return Parsed(input=text, target=seed.target)
