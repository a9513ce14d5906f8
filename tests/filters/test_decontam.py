"""Eval decontamination on handmade rows: eval items pasted (and lightly edited) into training text."""

from __future__ import annotations

import polars as pl
import pytest

from synth_assets.filters.decontam import contaminated_by, ngram_contamination
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.spec import DecontaminationSpec

EVAL = [
    "My puppy absolutely loves these treats..... he will do just about anything for them! Highly recommend em",
    "We ordered the Rapunzel Active Dry Yeast becuase the price was really good. The product shipped promptly however "
    "when we recieved the yeast, we noticed that every packet was about to expire.",
    "Tasty and fresh.",
]


def test_light_edits_inside_a_longer_row_are_caught() -> None:
    # "will" -> "would", case and punctuation changed, text before and after: no 13-gram survives
    edited = "Honestly, MY PUPPY absolutely loves these treats; he would do just about anything for them. Highly recommend em - five stars."
    assert ngram_contamination([edited], EVAL, containment_ngram=50) == [None]  # 13-grams alone miss it
    assert ngram_contamination([edited], EVAL) == [0]


def test_a_shared_long_ngram_is_enough() -> None:
    # 15 consecutive words of the long eval item inside an otherwise new text (under half of its 5-grams)
    row = ("I bake every weekend. The product shipped promptly however when we recieved the yeast, we noticed that "
           "every packet... anyway I switched brands and the bread is great now, soft and airy with a nice crust.")
    assert ngram_contamination([row], EVAL) == [1]
    assert ngram_contamination([row], EVAL, ngram=20) == [None]


def test_short_eval_items_need_an_exact_normalised_match() -> None:
    rows = ["tasty, and FRESH!", "Tasty and fresh, but the bag was half empty and the seal was broken.", "Stale and bland."]
    assert ngram_contamination(rows, EVAL) == [2, None, None]


def test_unrelated_rows_and_nulls_are_clean() -> None:
    rows = ["These crackers were stale and the box arrived crushed, would not buy again from this seller.", None, ""]
    assert ngram_contamination(rows, EVAL) == [None, None, None]


def test_contaminated_by_names_the_eval_id() -> None:
    eval_set = pl.DataFrame({"eval_id": ["e0", "e1", "e2"], "input": EVAL})
    rows = ["clean text about coffee that has nothing in common with the eval set at all", "TASTY AND FRESH", EVAL[1] + " Five stars."]
    by = contaminated_by(rows, eval_set, DecontaminationSpec())
    assert by.to_list() == [None, "e2", "e1"]
    assert by.dtype == pl.String


@pytest.mark.slow
def test_embedding_threshold_catches_a_paraphrase_the_ngrams_miss() -> None:
    eval_set = pl.DataFrame({"eval_id": ["e0", "e1"], "input": ["Tea was stale and it took forever to ship.", EVAL[0]]})
    rows = ["The shipping was slow and the tea tasted stale.", "Great crunchy crackers, the kids finished the box in a day."]
    assert contaminated_by(rows, eval_set, DecontaminationSpec()).to_list() == [None, None]
    semantic = DecontaminationSpec(embedding_threshold=0.85)
    assert contaminated_by(rows, eval_set, semantic, TextEmbedder()).to_list() == ["e0", None]
