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


def _check_calls(spec: PipelineSpec, rows: list[dict[str, Any]], teacher: TeacherSession,
                 label_cfg: StrategySpec | None) -> dict[int, TeacherCall]:
    """One label-scoring call per row (by position) of a strategy whose labels are checked."""
    label = STRATEGIES["label"]
    label_cfg = label_cfg or spec.label_strategy or StrategySpec(name="label")
    checked = {cfg.name for cfg in spec.strategies if cfg.checks_label}
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
