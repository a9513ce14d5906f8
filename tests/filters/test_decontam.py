"""Eval decontamination on handmade rows: eval items pasted (and lightly edited) into training text."""

from __future__ import annotations

import polars as pl
import pytest

from decontam_cases import intent_cases, review_cases
from synth_assets.filters.decontam import contained_pairs, contaminated_by, ngram_contamination
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


def test_a_template_sibling_is_not_a_leak_but_the_item_itself_is() -> None:
    # one of the two 5-grams of a 6-word item is shared: 50 % containment, yet another slot value
    item = ["What is the forecast for Niger?"]
    rows = ["What is the forecast for Mexican Hat, New Hampshire?", "what is the forecast for NIGER, please",
            "What is the forecast for Ghana? My sister lives in Niger."]
    assert ngram_contamination(rows, item) == [None, 0, None]
    assert ngram_contamination(rows, item, min_word_containment=0.0) == [0, 0, 0]  # the 5-gram share alone


def test_a_long_item_may_miss_one_word_in_ten() -> None:
    item = EVAL[1]  # 33 words
    words = item.split()
    one, four = list(words), list(words)
    one[15] = "pretty"
    four[15:19] = ["pretty"] * 4  # most 5-grams survive, but 4 of 33 words are gone
    rows = [" ".join(one), " ".join(four)]
    assert ngram_contamination(rows, [item], ngram=20) == [0, None]
    assert ngram_contamination(rows, [item], ngram=20, min_word_containment=0.0) == [0, 0]


def test_labelled_leaks_and_template_siblings() -> None:
    # intent templates, and leaks and siblings of the shipped test reviews, their sentences and the math problems
    for cases, siblings_flagged_before in ((intent_cases(), 57), (review_cases(), 549)):
        items = sorted({c.item for c in cases})
        index = {item: i for i, item in enumerate(items)}
        rows = [c.row for c in cases]

        def flagged(**rule) -> list[bool]:
            pairs = set(contained_pairs(rows, items, **rule).iter_rows())
            return [(i, index[c.item]) in pairs for i, c in enumerate(cases)]

        now, before = flagged(), flagged(min_word_containment=0.0)
        leaks = [c.leak for c in cases]
        assert sum(leaks) > 40 and len(leaks) - sum(leaks) > 70
        assert all(f for f, leak in zip(now, leaks) if leak), "every leak is caught"
        assert not any(f for f, leak in zip(now, leaks) if not leak), "no template sibling is flagged"
        assert all(f for f, leak in zip(before, leaks) if leak)
        assert sum(f for f, leak in zip(before, leaks) if not leak) == siblings_flagged_before
