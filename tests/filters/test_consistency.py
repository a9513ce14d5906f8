"""Answer verification and majority vote on handmade rows whose right verdicts are known."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from spec_helpers import write_math_spec, write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.filters.consistency import consistency_verdicts, majority
from synth_assets.spec import load_spec

PROBLEM = "Sarah had some trucks. She gave 13 to Jeff, and now she has 38 trucks left. How many trucks did Sarah have?"
SEEDS = pl.DataFrame({"seed_id": ["s1", "p1"], "input": [PROBLEM, "An unlabelled problem with 2 and 3?"], "target": ["51", None]})


def _rows(*rows: dict) -> pl.DataFrame:
    base = {"seed_id": "s1", "round": 0, "input": PROBLEM, "rationale": None, "parts": None, "error": None}
    full = [{**base, "row_id": f"r{i}", "sample_idx": i, **r} for i, r in enumerate(rows)]
    for r in full:
        r["parts"] = json.dumps(r["parts"]) if isinstance(r["parts"], dict) else r["parts"]
    schema = {"row_id": pl.String, "seed_id": pl.String, "strategy": pl.String, "sample_idx": pl.Int64, "round": pl.Int64,
              "input": pl.String, "target": pl.String, "rationale": pl.String, "parts": pl.String, "error": pl.String}
    return pl.DataFrame(full, schema=schema)


@pytest.fixture
def math_spec(tmp_path: Path):
    return load_spec(write_math_spec(tmp_path))


def test_majority_of_five_with_three_agreeing() -> None:
    assert majority(["51", "12", "51", "7", "51"]) == ("51", 0.6, 5)
    assert majority(["4", None, "4", None]) == ("4", 1.0, 2)  # missing answers do not vote
    assert majority(["3", "9", "9", "3"]) == ("3", 0.5, 4)  # a tie goes to the answer seen first
    assert majority([None]) == (None, None, 0)


def test_paths_on_a_known_answer_are_verified_against_it(math_spec) -> None:
    df = _rows(*[{"strategy": "answer_augment", "target": f"steps\n#### {a}"} for a in ("51", "12", "51", "7", "51")])
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["verified"].to_list() == [True, False, True, False, True]
    assert v["consistency_reason"].to_list() == [None, "answer_mismatch", None, "answer_mismatch", None]
    assert set(v["majority_answer"]) == {"51"} and set(v["agreement"]) == {0.6} and set(v["n_votes"]) == {5}


def test_a_rewording_must_keep_exactly_the_seed_numbers(math_spec) -> None:
    kept = "Sarah gave 13 trucks to Jeff and has 38 left. How many trucks did she start with?"
    # real SmolLM2 failure modes: a quantity dropped, and a (wrong) worked answer leaked into the problem
    dropped = "Sarah gave some trucks to Jeff and has 38 left. How many did she have?"
    leaked = "Sarah gave 13 trucks to Jeff and has 38 left. The answer is 13 + 38 = 52."
    df = _rows(*[{"strategy": "rephrase", "input": text, "target": "51"} for text in (kept, dropped, leaked)])
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "numbers_changed", "numbers_changed"]
    assert v["verified"].to_list() == [True, False, False]


def test_a_right_path_is_kept_even_when_most_paths_are_wrong(math_spec) -> None:
    df = _rows(*[{"strategy": "answer_augment", "target": f"#### {a}"} for a in ("12", "12", "12", "51")])
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["majority_answer"][0] == "12" and v["agreement"][0] == 0.75
    assert v["verified"].to_list() == [False, False, False, True]


def test_without_verification_the_majority_decides(tmp_path: Path) -> None:
    spec = load_spec(write_math_spec(tmp_path, filters={"consistency": {"verify": False, "min_agreement": 0.5}}))
    df = _rows(*[{"strategy": "answer_augment", "target": f"#### {a}"} for a in ("51", "12", "51", "7", "51")])
    v = consistency_verdicts(df, SEEDS, spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "not_majority", None, "not_majority", None]
    assert v["verified"].to_list() == [True, False, True, False, True]


def test_unlabelled_problems_fall_back_to_the_majority(math_spec) -> None:
    df = _rows(*[{"strategy": "answer_augment", "seed_id": "p1", "input": "An unlabelled problem with 2 and 3?", "target": f"#### {a}"}
                 for a in ("5", "6", "5")])
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "not_majority", None]
    assert v["agreement"].round(4).to_list() == [0.6667] * 3


def test_new_problems_vote_with_their_resolves(math_spec) -> None:
    df = _rows(
        {"strategy": "new_question", "input": "Problem A", "target": "#### 8", "parts": {"votes": ["8", "8", "3"]}},
        {"strategy": "new_question", "input": "Problem B", "target": "#### 6", "parts": {"votes": ["4", "5", None]}},
        {"strategy": "new_question", "input": "Problem C", "target": "#### 2"},
        {"strategy": "new_question", "input": "Problem D", "target": "#### 2", "parts": {"votes": ["9", "9"]}},
    )
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "low_agreement", "too_few_votes", "not_majority"]
    assert v["verified"].to_list() == [True, False, False, False]
    assert v["agreement"].round(4).to_list() == [0.75, 0.3333, 1.0, 0.6667]
    assert v["n_votes"].to_list() == [4, 3, 1, 3]


def test_revthink_needs_its_backward_answer_to_be_the_hidden_number(math_spec) -> None:
    good = {"hidden_value": "13", "backward_answer": "13"}
    df = _rows(
        {"strategy": "revthink", "target": "#### 51", "parts": good},
        {"strategy": "revthink", "target": "#### 51", "parts": {"hidden_value": "13", "backward_answer": "12"}},
        {"strategy": "revthink", "target": "#### 51", "parts": {"hidden_value": "14", "backward_answer": "14"}},  # not in the problem
        {"strategy": "revthink", "target": "#### 50", "parts": good},
    )
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "backward_mismatch", "backward_mismatch", "answer_mismatch"]


def test_a_math_rationale_must_reach_the_seed_answer(math_spec) -> None:
    df = _rows({"strategy": "rationale", "target": "51", "rationale": "38 + 13 = 51"},
               {"strategy": "rationale", "target": "51", "rationale": "38 + 13 = 50"},
               {"strategy": "answer_augment", "target": None, "error": "no numeric answer in the solution"})
    v = consistency_verdicts(df, SEEDS, math_spec).sort("row_id")
    assert v["consistency_reason"].to_list() == [None, "rationale_mismatch", None]
    assert v.row(2, named=True) == {"row_id": "r2", "answer": None, "majority_answer": None, "agreement": None, "n_votes": None,
                                    "verified": None, "consistency_reason": None}  # error rows are validity's to reject


def test_classification_labels_vote_without_verification(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, filters={"consistency": {"min_agreement": 0.6}}))
    text = "Lovely tea, will buy again."
    seeds = pl.DataFrame({"seed_id": ["s1"], "input": [text], "target": [None]}, schema_overrides={"target": pl.String})
    df = _rows(*[{"strategy": "label", "input": text, "target": t} for t in ("great", "other", "great")])
    v = consistency_verdicts(df, seeds, spec).sort("row_id")
    assert v["majority_answer"].to_list() == ["great"] * 3 and v["consistency_reason"].to_list() == [None, "not_majority", None]
    assert v["verified"].null_count() == 3
    strict = load_spec(write_spec(tmp_path, filters={"consistency": {"min_agreement": 0.7}}))
    assert consistency_verdicts(df, seeds, strict)["consistency_reason"].to_list() == ["low_agreement"] * 3


def test_filtered_rejects_wrong_paths_and_dedups_on_the_solution(math_spec) -> None:
    df = _rows(
        {"strategy": "answer_augment", "target": "38 + 13 = 51\n#### 51"},
        {"strategy": "answer_augment", "target": "38 + 13 = 51\n#### 51"},  # the same path again
        {"strategy": "answer_augment", "target": "13 + 38 is 51\n#### 51"},
        {"strategy": "answer_augment", "target": "38 - 13 = 25\n#### 25"},
    ).with_columns(pl.lit(None, pl.Float64).alias("confidence"), pl.lit(None, pl.String).alias("label_scores"))
    out, report = apply_filters(df, SEEDS, math_spec)
    out = out.sort("row_id")
    assert out["reject_reason"].to_list() == [None, "duplicate", None, "answer_mismatch"]
    assert out["dup_of"].to_list() == [None, "r0", None, None]  # same problem as the seed, but not a copy of it
    assert out["verified"].to_list() == [True, True, True, False]
    assert report.reasons == {"accepted": 2, "answer_mismatch": 1, "duplicate": 1}
