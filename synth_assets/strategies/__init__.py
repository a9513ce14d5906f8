"""Registry of strategies by the name used in the spec."""

from synth_assets.strategies.answer_augment import AnswerAugmentStrategy
from synth_assets.strategies.base import Parsed, Seed, Strategy
from synth_assets.strategies.error_driven import ErrorDrivenStrategy
from synth_assets.strategies.hard_negative import HardNegativeStrategy
from synth_assets.strategies.label import LabelStrategy
from synth_assets.strategies.new_question import NewQuestionStrategy
from synth_assets.strategies.rationale import RationaleStrategy
from synth_assets.strategies.rephrase import RephraseStrategy
from synth_assets.strategies.revthink import RevThinkStrategy

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (LabelStrategy(), RephraseStrategy(), NewQuestionStrategy(), AnswerAugmentStrategy(), RevThinkStrategy(),
              RationaleStrategy(), ErrorDrivenStrategy(), HardNegativeStrategy())
}

__all__ = ["STRATEGIES", "Parsed", "Seed", "Strategy"]
