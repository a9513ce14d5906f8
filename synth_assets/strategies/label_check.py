"""The teacher's own label for each text a strategy wrote for a label (StrategySpec.verify_label).

A strategy that writes a text *for* a label (a hard negative flipped to the other class, a new
example) only claims that label. Asking the teacher to score the label words on the finished
text, with the pipeline's `label` prompt, turns the claim into a measured judgement: the filters
recalibrate those scores like every teacher label and keep the row only when the teacher's label
is its target with a margin the labelled seeds show to be trustworthy. The calls go through the
row-level cache (labelling a text is the same call wherever the text came from) and the budget.
"""

from __future__ import annotations

from typing import Any

from synth_assets.inference.cache import TeacherCall
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec, StrategySpec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.extras import RowExtra
from synth_assets.strategy_catalog import CHECKED_SINCE_DEFAULT

# the code-version mark of the assets whose rows the default label check of text-writing strategies changed
DEFAULT_CHECK_MARK = "-lc1"


def round_strategies(spec: PipelineSpec, round_: int) -> list[StrategySpec]:
    """The strategies a round expands with: the spec's in round 0, rounds.strategy after."""
    return spec.strategies if round_ == 0 else [s for s in [spec.rounds.strategy] if s is not None]


def label_checked(spec: PipelineSpec, round_: int) -> list[str]:
    """The strategies of a round whose texts the teacher re-labels: verify_label as resolved (asset metadata)."""
    return [cfg.name for cfg in round_strategies(spec, round_) if spec.checks_label(cfg)]


def default_check_mark(spec: PipelineSpec, round_: int) -> str:
    """DEFAULT_CHECK_MARK when a strategy of the round is label-checked only because checking became its default, else ''.

    A spec that leaves verify_label unset on rephrase, new_question or error_driven in a classification task now keeps
    only the rows the teacher agrees with, so the expansions and filtered assets of those strategies must be stale;
    every other spec (verify_label set either way, a math task, hard_negative, checked before) keeps its code versions.
    """
    changed = any(cfg.verify_label is None and cfg.name in CHECKED_SINCE_DEFAULT and spec.checks_label(cfg)
                  for cfg in round_strategies(spec, round_))
    return DEFAULT_CHECK_MARK if changed else ""


def _check_calls(spec: PipelineSpec, rows: list[dict[str, Any]], teacher: TeacherSession,
                 label_cfg: StrategySpec | None) -> dict[int, TeacherCall]:
    """One label-scoring call per row (by position) of a strategy whose labels are checked."""
    label = STRATEGIES["label"]
    label_cfg = label_cfg or spec.label_strategy or StrategySpec(name="label")
    checked = {cfg.name for cfg in spec.strategies if spec.checks_label(cfg)}
    calls: dict[int, TeacherCall] = {}
    for i, row in enumerate(rows):
        if row["strategy"] not in checked or row["error"] is not None or not row["input"]:
            continue
        req = label.request(spec, label_cfg, Seed(row["row_id"], row["input"], None), 0)
        calls[i] = teacher.call(req, label.name, label.version)
    return calls


def label_checks(spec: PipelineSpec, rows: list[dict[str, Any]], teacher: TeacherSession,
                 label_cfg: StrategySpec | None = None) -> tuple[dict[int, RowExtra], RunStats]:
    """Score the label words on each checked row's text: per row (by position) the scores and what the check cost.

    A check that failed or was skipped by the budget brings no scores, and the filters reject the row.
    `label_cfg`: the pipeline's label strategy, when `spec` is a round's copy holding only the round's strategy.
    """
    by_row = _check_calls(spec, rows, teacher, label_cfg)
    if not by_row:
        return {}, RunStats()
    results, stats = teacher.run(list(by_row.values()))
    label = STRATEGIES["label"]
    extras = {}
    for i, call in by_row.items():
        row, result = rows[i], results[call.key][0]
        parsed = label.parse(spec, Seed(row["row_id"], row["input"], None), result) if result.ok else None
        scored = parsed is not None and bool(parsed.label_scores)
        extras[i] = RowExtra(teacher.cost(result), label_scores=parsed.label_scores if scored else None,
                             confidence=parsed.confidence if scored else None)
    return extras, stats
