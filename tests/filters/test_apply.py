"""apply_filters end to end on handmade expansions: which filter rejects which row, and in what order."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from spec_helpers import write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.spec import load_spec

YEAST = ("we ordered the active dry yeast because the price was really good and the product shipped promptly "
         "but when we opened the box we noticed that every single packet was about to expire within a week "
         "we started to use it right away since it was going to expire soon however the yeast was already bad "
         "and the dough did not rise at all which was a real shame for our weekend baking plans")
TEA = ("this green tea has become part of my morning routine because it is smooth and never bitter even when "
       "i forget the bag in the cup for ten minutes the tin keeps it fresh for months and the price per cup is "
       "lower than any tea shop in town so i ordered a second tin for the office and my colleagues now drink "
       "it every afternoon with a few almond biscuits")
EVAL_TEXT = "Very crunchy and salty, just like described. I can also tell they use a lot of artificial color."


def _swap(text: str, position: int, word: str) -> str:
    words = text.split()
    words[position] = word
    return " ".join(words)


SEEDS = pl.DataFrame({"seed_id": ["s1", "s2"], "input": [YEAST, TEA[:200]], "target": ["other", None]})
EVAL_SET = pl.DataFrame({"eval_id": ["e0"], "input": [EVAL_TEXT], "target": ["other"]})
ROWS = [
    (_swap(YEAST, 30, "nearly"), None),  # r0: one word off the labelled seed
    (TEA, None),  # r1: new text
    (_swap(TEA, 40, "seven"), None),  # r2: one word off r1
    (TEA.upper(), None),  # r3: r1 again
    ("We got a big bag for a party. " + EVAL_TEXT + " The kids still ate all of it within an hour.", None),  # r4
    (_swap(TEA, 50, "scones"), "timeout"),  # r5: a failed call is invalid before it is anything else
]


def _expansions() -> pl.DataFrame:
    n = len(ROWS)
    return pl.DataFrame({
        "row_id": [f"r{i}" for i in range(n)], "seed_id": ["s1"] * n, "strategy": ["rephrase"] * n,
        "sample_idx": list(range(n)), "input": [t for t, _ in ROWS], "target": ["other"] * n,
        "error": [e for _, e in ROWS], "confidence": [None] * n, "label_scores": [None] * n,
    }, schema_overrides={"error": pl.String, "confidence": pl.Float64, "label_scores": pl.String})


def _verdicts(df: pl.DataFrame) -> dict[str, tuple]:
    cols = ("reject_reason", "dup_of", "near_dup_of", "contaminated_by", "contaminated")
    return {r["row_id"]: tuple(r[c] for c in cols) for r in df.iter_rows(named=True)}


def test_every_filter_names_its_rows(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    df, report = apply_filters(_expansions(), SEEDS, spec, EVAL_SET)
    verdicts = _verdicts(df)
    assert verdicts["r0"] == ("near_duplicate", None, "s1", None, False)
    assert verdicts["r1"] == (None, None, None, None, False)
    assert verdicts["r2"] == ("near_duplicate", None, "r1", None, False)
    assert verdicts["r3"] == ("duplicate", "r1", None, None, False)
    assert verdicts["r4"] == ("eval_contamination", None, None, "e0", True)
    assert verdicts["r5"][0] == "teacher_error: timeout" and verdicts["r5"][2] is None
    assert df["embed_dup_of"].null_count() == df.height  # off by default: no model is loaded
    assert report.reasons["near_duplicate"] == 2 and report.reasons["accepted"] == 1


def test_switched_off_filters_leave_null_verdicts(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"near_dedup": {"enabled": False}, "decontamination": {"enabled": False}}))
    df, _ = apply_filters(_expansions(), SEEDS, spec, EVAL_SET)
    verdicts = _verdicts(df)
    assert df["near_dup_of"].null_count() == df.height and df["contaminated"].null_count() == df.height
    assert [verdicts[r][0] for r in ("r0", "r1", "r2", "r3", "r4")] == [None, None, None, "duplicate", None]


def test_without_an_eval_set_nothing_is_contaminated(tmp_path: Path) -> None:
    df, _ = apply_filters(_expansions(), SEEDS, load_spec(write_spec(tmp_path)))
    assert df["contaminated"].null_count() == df.height
    assert _verdicts(df)["r4"][0] is None


def _label_rows(ids: list[str], targets: list[str], margins: list[float]) -> pl.DataFrame:
    """Teacher label rows whose label scores give `targets` with these margins (no calibration needed)."""
    import json

    scores = [json.dumps({t: 0.0, ("other" if t == "great" else "great"): -m}) for t, m in zip(targets, margins)]
    return pl.DataFrame({
        "row_id": [f"l-{i}" for i in ids], "seed_id": ids, "strategy": ["label"] * len(ids), "sample_idx": [0] * len(ids),
        "input": [f"text of {i} " * 4 for i in ids], "target": targets, "error": [None] * len(ids),
        "confidence": margins, "label_scores": scores,
    }, schema_overrides={"error": pl.String, "confidence": pl.Float64})


def test_a_round_labelling_only_pool_rows_is_measured_on_round_zeros_seed_labels(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"confidence": {"calibrate": False, "min_precision": 0.8, "min_support": 3}}))
    seeds = pl.DataFrame({"seed_id": ["a", "b", "c", "d", "p1", "p2"], "input": ["x"] * 6,
                          "target": ["great", "other", "great", "other", None, None]})
    # round 0: the teacher is right on a, b, c with margins >= 2, wrong on d at margin 1
    round0 = _label_rows(["a", "b", "c", "d"], ["great", "other", "great", "great"], [3.0, 2.5, 2.0, 1.0])
    pool = _label_rows(["p1", "p2"], ["great", "other"], [2.2, 0.5])

    alone, report = apply_filters(pool, seeds, spec)
    assert report.confidence["threshold"] is None and not alone["accepted"].any()  # nothing measures the teacher

    filtered, report = apply_filters(pool, seeds, spec, reference_labels=round0)
    assert report.confidence["threshold"] == 2.0 and report.confidence["n_calibration"] == 4
    assert filtered["row_id"].to_list() == ["l-p1", "l-p2"]  # the reference rows are not part of the round's table
    assert dict(filtered.select("row_id", "reject_reason").iter_rows()) == {"l-p1": None, "l-p2": "low_confidence"}
