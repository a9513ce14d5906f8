"""The catalog the spec validates against names exactly the strategies that run."""

from __future__ import annotations

from synth_assets.strategies import STRATEGIES
from synth_assets.strategy_catalog import STRATEGY_CATALOG


def test_every_catalogued_strategy_runs_and_every_strategy_is_catalogued() -> None:
    assert set(STRATEGIES) == set(STRATEGY_CATALOG)


def test_a_strategy_carries_its_catalog_entry() -> None:
    for name, strategy in STRATEGIES.items():
        info = STRATEGY_CATALOG[name]
        assert (strategy.tasks, strategy.placeholders) == (info.tasks, info.placeholders)
        assert (strategy.same_problem, strategy.verify_label_default) == (info.same_problem, info.verify_label_default)
    assert STRATEGIES["hard_negative"].verify_label_default and not STRATEGIES["new_question"].same_problem


def test_every_strategy_that_writes_a_new_classification_text_checks_its_label_by_default() -> None:
    # label and rationale keep the seed's own text; answer_augment and revthink serve math, which has no labels
    writers = {name for name, info in STRATEGY_CATALOG.items() if info.verify_label_default}
    assert writers == {"rephrase", "new_question", "error_driven", "hard_negative"}
