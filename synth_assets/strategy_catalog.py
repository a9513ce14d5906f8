"""The strategies a spec may name and the facts the spec checks about each at load.

A leaf module (it imports nothing from synth_assets): the spec validates a strategy's name, its
task, its prompt's placeholders and its options against this table without importing the runtime
strategies, which build teacher calls and so depend on the inference layer. Each strategy class in
synth_assets/strategies/ reads its entry here by name, so the facts are written once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StrategyInfo:
    """What the spec may say about a strategy and what it checks: which tasks, which prompt fields."""

    tasks: tuple[str, ...]  # the spec tasks ("classification", "math") it can serve
    # the fields its prompt templates are filled with (spec: strategies.N.prompt may use only these; {input} is required)
    placeholders: tuple[str, ...]
    # True when the row poses the seed's own question (maybe reworded), so its answer must be the
    # seed's answer; False when it writes a new question whose answer is its own
    same_problem: bool
    # whether, in a classification task, the teacher re-labels the strategy's new texts unless the spec says
    # (StrategySpec.verify_label): on for every strategy that writes a new text for a label, since a rewrite can lose
    # the meaning its claimed label rests on; a math task has no labels, so there it is always off
    verify_label_default: bool = False


STRATEGY_CATALOG: dict[str, StrategyInfo] = {
    "label": StrategyInfo(("classification",), ("instruction", "input", "choices"), same_problem=True),
    "rephrase": StrategyInfo(("classification", "math"), ("instruction", "input"), same_problem=True,
                             verify_label_default=True),
    "new_question": StrategyInfo(("classification", "math"), ("instruction", "input", "label"), same_problem=False,
                                 verify_label_default=True),
    "answer_augment": StrategyInfo(("math",), ("instruction", "input"), same_problem=True),
    "revthink": StrategyInfo(("math",), ("instruction", "input"), same_problem=True),
    "rationale": StrategyInfo(("classification", "math"), ("instruction", "input", "label"), same_problem=True),
    "error_driven": StrategyInfo(("classification", "math"), ("instruction", "input", "label", "prediction"),
                                 same_problem=False, verify_label_default=True),
    # the row's label is its own, not its seed's; whether the rewrite took it is the teacher's call
    "hard_negative": StrategyInfo(("classification",), ("instruction", "input", "label", "flipped"), same_problem=False,
                                  verify_label_default=True),
}


# The strategies whose label check became the default with verify_label_default on for every text-writing one
# (hard_negative was checked before): a spec that leaves verify_label unset on one of them keeps different rows
# than it did, so the assets those rows change mark it in their code version (strategies/label_check.py).
CHECKED_SINCE_DEFAULT = ("error_driven", "new_question", "rephrase")


def strategy_info(name: str) -> StrategyInfo:
    """A strategy's entry; a ValueError naming the known strategies for a name that is not one."""
    info = STRATEGY_CATALOG.get(name)
    if info is None:
        raise ValueError(f"unknown strategy {name!r}; choose one of: {', '.join(sorted(STRATEGY_CATALOG))}")
    return info
