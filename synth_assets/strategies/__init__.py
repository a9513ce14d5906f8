"""Registry of strategies by the name used in the spec."""

from synth_assets.strategies.base import Parsed, Seed, Strategy
from synth_assets.strategies.label import LabelStrategy
from synth_assets.strategies.new_question import NewQuestionStrategy
from synth_assets.strategies.rephrase import RephraseStrategy

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (LabelStrategy(), RephraseStrategy(), NewQuestionStrategy())}

__all__ = ["STRATEGIES", "Parsed", "Seed", "Strategy"]
