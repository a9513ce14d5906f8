"""Answer verification and self-consistency (Wang et al., 2023), without extra teacher calls.

1. Known answer. A math row that poses its seed's own problem (answer_augment, revthink, rephrase,
   rationale: `same_problem` strategies) must reach the seed's answer: `verified` =
   numbers_match(target, seed answer). A rationale must reach it too, and a RevThink row's
   backward answer must be the number it hid, which must be one of the problem's numbers.
   A reworded problem (rephrase) must keep exactly the seed's numbers. Failures: `numbers_changed`,
   `answer_mismatch`, `rationale_mismatch`, `backward_mismatch`. Ground truth beats a
   vote: a correct path is kept even when most paths for its problem were wrong.
2. No known answer (generated problems, unlabelled seeds, or `verify: false`). The row's answer
   votes with every other answer to the same question: the samples of one (strategy, seed, round,
   question) plus the `votes` re-solves of a generated problem. The most common answer is the
   majority and `agreement` its share of the votes; a row is kept if its answer is the majority and
   agreement >= `min_agreement` (math also needs `min_votes` answers, else nothing was checked).
   Failures: `too_few_votes`, `low_agreement`, `not_majority`.
Classification rows vote with their labels the same way (step 2 only).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import polars as pl

from synth_assets.answers import extract_number, numbers_in, numbers_match
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict, attach, sliced
from synth_assets.sources.validate import normalise
from synth_assets.spec import PipelineSpec
from synth_assets.strategies import STRATEGIES

VERDICT_SCHEMA = {
    "row_id": pl.String,
    "answer": pl.String,
    "majority_answer": pl.String,
    "agreement": pl.Float64,
    "n_votes": pl.Int64,
    "verified": pl.Boolean,
    "consistency_reason": pl.String,
}
_NORM = pl.col("input").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def majority(answers: list[str | None]) -> tuple[str | None, float | None, int]:
    """(most common answer, its share of the answers, how many answers); missing answers do not vote.

    Ties go to the answer seen first, so the verdict is the same in every run.
    """
    votes = [a for a in answers if a is not None]
    if not votes:
        return None, None, 0
    answer, count = Counter(votes).most_common(1)[0]
    return answer, count / len(votes), len(votes)


def _known_answer_reason(row: dict[str, Any], seed_input: str, seed_answer: str) -> str | None:
    """Why a row on the seed's own problem does not reach the seed's answer, or None when it does."""
    if row["input"] is not None and normalise(row["input"]) != normalise(seed_input) \
            and set(numbers_in(row["input"])) != set(numbers_in(seed_input)):
        # a reworded problem that drops, changes or adds a quantity (or leaks a worked answer) is
        # another problem: the seed's answer no longer belongs to it
        return "numbers_changed"
    if not numbers_match(row["target"], seed_answer):
        return "answer_mismatch"
    if row["rationale"] is not None and not numbers_match(row["rationale"], seed_answer):
        return "rationale_mismatch"
    parts = row["parts"]
    if "hidden_value" in parts:  # RevThink: the backward question must give back what it hid
        hidden = parts["hidden_value"]
        if hidden not in numbers_in(seed_input) or not numbers_match(parts.get("backward_answer"), hidden):
            return "backward_mismatch"
    return None


def _with_optional(df: pl.DataFrame) -> pl.DataFrame:
    """Columns older or handmade frames may lack, as nulls."""
    missing = [c for c in ("rationale", "parts", "round", "error") if c not in df.columns]
    return df.with_columns([pl.lit(None, pl.Int64 if c == "round" else pl.String).alias(c) for c in missing])


# rows turned into Python dicts at a time; a slice ends where a (strategy, seed, round) run does, so every
# vote group (one question of one run) lies within one slice
_SLICE_ROWS = 50_000


def _group_slices(runs: pl.Series) -> list[tuple[int, int]]:
    """(start, end) row ranges of about _SLICE_ROWS rows, each ending where a run of equal `runs` ids ends."""
    ids = runs.to_numpy()
    bounds, lo = [], 0
    while lo < ids.size:
        hi = min(lo + _SLICE_ROWS, ids.size)
        if hi < ids.size:
            hi = int(np.searchsorted(ids, ids[hi - 1], side="right"))  # ids ascend along the sorted rows
        bounds.append((lo, hi))
        lo = hi
    return bounds


def consistency_verdicts(df: pl.DataFrame, seeds: pl.DataFrame | pl.LazyFrame, spec: PipelineSpec) -> pl.DataFrame:
    """Per expansions row: its answer, its group's majority and agreement, `verified`, and a reject reason.

    Only seeds with a known answer are read (the rest have nothing to verify against), and a question
    is grouped by the hash of its normalised text, so no text of the table is held as Python strings
    beyond one slice's.
    """
    math = spec.task == "math"
    known = seeds.lazy().filter(pl.col("target").is_not_null()).select("seed_id", "input", "target").collect() if math else None
    seed_rows = {sid: (text, target) for sid, text, target in known.iter_rows()} if known is not None else {}
    columns = ["row_id", "seed_id", "strategy", "round", "_question", "target", "rationale", "parts", "error"]
    keep = [*columns, "sample_idx", *(["input"] if math else [])]  # texts are sorted along only where they are read
    rows = (
        _with_optional(df.select(c for c in ("row_id", "seed_id", "strategy", "round", "sample_idx", "input", "target",
                                             "rationale", "parts", "error") if c in df.columns))
        .with_columns(sliced(df, lambda part: part.select(_NORM.hash().alias("_question"))).to_series())
        .select(keep)
        .sort("strategy", "seed_id", "round", "sample_idx", nulls_last=True)
        .drop("sample_idx")
        .with_columns(pl.struct("strategy", "seed_id", "round").rle_id().alias("_run"))
    )
    out = [_slice_verdicts(rows.slice(lo, hi - lo).drop("_run").to_dicts(), seed_rows, spec)
           for lo, hi in _group_slices(rows["_run"])]
    return pl.concat(out) if out else pl.DataFrame(schema=VERDICT_SCHEMA)


def _slice_verdicts(rows: list[dict[str, Any]], seed_rows: dict[str, tuple[str, str]], spec: PipelineSpec) -> pl.DataFrame:
    """The verdicts of rows that hold whole vote groups."""
    cfg = spec.filters.consistency
    math = spec.task == "math"
    groups: dict[tuple, list[str | None]] = {}
    for row in rows:
        row["parts"] = json.loads(row["parts"]) if row["parts"] else {}
        usable = row["error"] is None and row["target"] is not None
        row["answer"] = (extract_number(row["target"]) if math else row["target"]) if usable else None
        if usable:
            key = (row["strategy"], row["seed_id"], row["round"], row["_question"])
            groups.setdefault(key, []).extend([row["answer"], *(row["parts"].get("votes") or [])])
    out = []
    for row in rows:
        verdict = {"row_id": row["row_id"], "answer": row["answer"], "majority_answer": None, "agreement": None,
                   "n_votes": None, "verified": None, "consistency_reason": None}
        out.append(verdict)
        if row["answer"] is None:
            continue  # errors and missing targets are the validity filter's to reject
        key = (row["strategy"], row["seed_id"], row["round"], row["_question"])
        verdict["majority_answer"], verdict["agreement"], verdict["n_votes"] = majority(groups[key])
        seed_input, seed_answer = seed_rows.get(row["seed_id"], (None, None))
        strategy = STRATEGIES.get(row["strategy"])
        if math and cfg.verify and seed_answer is not None and strategy is not None and strategy.same_problem:
            reason = _known_answer_reason(row, seed_input or "", seed_answer)
            verdict["verified"], verdict["consistency_reason"] = reason is None, reason
            continue
        if math and verdict["n_votes"] < cfg.min_votes:
            reason = "too_few_votes"
        elif verdict["agreement"] < cfg.min_agreement:
            reason = "low_agreement"
        elif row["answer"] != verdict["majority_answer"]:
            reason = "not_majority"
        else:
            reason = None
        verdict["consistency_reason"] = reason
        if math:
            verdict["verified"] = reason is None
    return pl.DataFrame(out, schema=VERDICT_SCHEMA)


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    df = attach(df, consistency_verdicts(df, inputs.labelled_seeds, inputs.spec))
    return Verdict(df, pl.col("consistency_reason"), pl.col("consistency_reason").is_null())


CONSISTENCY = FilterStep(
    name="consistency", section="consistency", run=_run,
    reasons=("numbers_changed", "answer_mismatch", "rationale_mismatch", "backward_mismatch", "too_few_votes",
             "low_agreement", "not_majority"),
    columns={c: t for c, t in VERDICT_SCHEMA.items() if c not in ("row_id", "consistency_reason")},
    scratch=("consistency_reason",),
)
