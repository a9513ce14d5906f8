"""Self-consistency votes (Wang et al., 2023) for generated math problems: the teacher solves each one again.

A new problem's answer is only the teacher's claim; the seed's answer says nothing about it.
`votes: k` on a strategy that writes new problems sends each generated problem back to the teacher
k more times with the answer_augment prompt (sampled, through the same row-level cache, so a rerun
costs nothing) and stores the answers in `parts.votes`. The consistency filter keeps the row only
when its own answer is the majority of all those answers.
"""

from __future__ import annotations

from typing import Any

from synth_assets.answers import extract_number
from synth_assets.inference.cache import TeacherCall
from synth_assets.inference.runner import RunStats
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec, StrategySpec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.extras import RowExtra
from synth_assets.strategies.solution import worked_solution

SOLVER = "answer_augment"


def _vote_calls(spec: PipelineSpec, rows: list[dict[str, Any]], teacher: TeacherSession) -> dict[int, list[TeacherCall]]:
    """The solve calls per expansions row (by position) for every strategy configured with votes."""
    solver = STRATEGIES[SOLVER]
    by_row: dict[int, list[TeacherCall]] = {}
    for cfg in spec.strategies:
        if not cfg.votes:
            continue
        solve_cfg = StrategySpec(name=SOLVER, samples=cfg.votes, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens)
        for i, row in enumerate(rows):
            if row["strategy"] != cfg.name or row["error"] is not None or not row["input"]:
                continue
            calls = []
            for j in range(cfg.votes):
                req = solver.request(spec, solve_cfg, Seed(row["row_id"], row["input"], None), j)
                calls.append(teacher.call(req, solver.name, solver.version))
            by_row[i] = calls
    return by_row


def votes(spec: PipelineSpec, rows: list[dict[str, Any]], teacher: TeacherSession) -> tuple[dict[int, RowExtra], RunStats]:
    """Solve each generated problem again: per row (by position) its answers for parts.votes (None where a reply had none).

    Votes are teacher calls like any other: they count against the budget, a vote skipped by it is None,
    and they are part of what the row cost.
    """
    by_row = _vote_calls(spec, rows, teacher)
    if not by_row:
        return {}, RunStats()
    results, stats = teacher.run([c for calls in by_row.values() for c in calls])
    extras = {}
    for i, calls in by_row.items():
        outcomes = [results[c.key][0] for c in calls]
        answers = [extract_number(worked_solution(r.text)[0]) if r.ok else None for r in outcomes]
        extras[i] = RowExtra(teacher.cost(*outcomes), parts={"votes": answers})
    return extras, stats
