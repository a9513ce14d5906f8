"""Exact dedup and validity verdicts on handmade rows with known answers."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from spec_helpers import write_spec
from synth_assets.filters.dedup import exact_duplicates
from synth_assets.filters.validity import invalid_reason
from synth_assets.spec import load_spec

SEEDS = pl.DataFrame({"seed_id": ["s1", "s2"], "input": ["Tasty and fresh snack", "Awful, stale crackers"], "target": ["great", "other"]})


def _rows(inputs, strategies=None, errors=None, targets=None) -> pl.DataFrame:
    n = len(inputs)
    return pl.DataFrame({
        "row_id": [f"r{i}" for i in range(n)],
        "seed_id": ["s1"] * n,
        "strategy": strategies or ["rephrase"] * n,
        "sample_idx": list(range(n)),
        "input": inputs,
        "target": targets or ["great"] * n,
        "error": errors or [None] * n,
    }, schema_overrides={"error": pl.String, "input": pl.String})


def test_exact_duplicates_against_seeds_and_each_other() -> None:
    df = _rows(["A fresh and tasty snack", "a fresh   and TASTY snack", "tasty and fresh snack", "Something new entirely", None])
    dup = exact_duplicates(df, SEEDS).to_list()
    assert dup == [None, "r0", "s1", None, None]


def test_validity_reasons(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"validity": {"min_chars": 5, "max_chars": 60, "min_length_ratio": 0.5, "max_length_ratio": 2.0}}))
    df = _rows(
        ["ok rewrite of the snack", "", "tiny", "x" * 61, "short one", "y" * 50, "fine text here", "fine again here"],
        errors=[None, None, None, None, None, None, "timeout", None],
        targets=["great"] * 7 + ["maybe"],
    )
    reasons = invalid_reason(df, SEEDS, spec).to_list()
    assert reasons[0] is None
    assert reasons[1] == "invalid: empty text"
    assert reasons[2] == "invalid: shorter than 5 chars"
    assert reasons[3] == "invalid: longer than 60 chars"
    assert reasons[4] == "invalid: under 0.5x the seed's length"
    assert reasons[5] == "invalid: over 2.0x the seed's length"
    assert reasons[6] == "teacher_error: timeout"
    assert reasons[7] == "invalid: target not in labels"


def test_length_bounds_judge_generated_text_not_the_users_own(tmp_path: Path) -> None:
    # a one-word pool review is real input: its teacher label must not be rejected as too short (nor a long one as too long)
    spec = load_spec(write_spec(tmp_path))
    pool = pl.DataFrame({"seed_id": ["p1", "p2"], "input": ["Crummy", "y" * 2001], "target": [None, None]}, schema=SEEDS.schema)
    df = _rows(["Crummy", "y" * 2001, "Crummy"], strategies=["label", "label", "rephrase"]).with_columns(
        pl.Series("seed_id", ["p1", "p2", "s1"]))
    assert invalid_reason(df, pl.concat([SEEDS, pool]), spec).to_list() == [None, None, "invalid: shorter than 10 chars"]
