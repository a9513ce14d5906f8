"""MinHash-LSH near-duplicates on handmade texts with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHashLSH

from synth_assets.filters.keep_first import keep_first
from synth_assets.filters.near_dup import EMPTY, lsh_bands, near_duplicate_pairs, near_duplicates, signatures
from synth_assets.filters.shingles import ngrams, tokens

# 70 words: one changed word leaves 65 of 71 distinct word 3-grams shared (Jaccard 0.915)
BASE = ("we ordered the active dry yeast because the price was really good and the product shipped promptly "
        "but when we opened the box we noticed that every single packet was about to expire within a week "
        "we started to use it right away since it was going to expire soon however the yeast was already bad "
        "and the dough did not rise at all which was a real shame for our weekend baking plans")
REVIEW = ("my puppy absolutely loves these treats and he will do just about anything for them so i keep a bag "
          "in the car and another one by the door they are small enough for training and do not crumble in my "
          "pocket which the old brand always did highly recommend them to any dog owner")


def _swap(text: str, position: int, word: str) -> str:
    words = text.split()
    words[position] = word
    return " ".join(words)


def _jaccard(a: str, b: str, n: int = 3) -> float:
    def grams(t: str) -> set[tuple[str, ...]]:
        w = t.split()
        return {tuple(w[k:k + n]) for k in range(len(w) - n + 1)}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb)


def test_duplicates_one_word_changes_and_unrelated_texts() -> None:
    one_word = _swap(BASE, 16, "slowly")
    texts = [
        BASE,
        BASE.replace(" but ", ", BUT ").replace(" and ", "; And ").capitalize() + "!",  # other case and punctuation
        one_word,
        REVIEW,
        None,
        "",
    ]
    assert _jaccard(BASE, one_word) > 0.9  # the planted near-duplicate really is one
    assert near_duplicates(texts) == [None, 0, 0, None, None, None]


def test_reference_texts_come_first_and_win() -> None:
    refs = [REVIEW]
    texts = [BASE, _swap(REVIEW, 8, "would"), _swap(BASE, 20, "sack")]
    # indices point into [*refs, *texts]: 0 is the reference, 1 is texts[0]
    assert near_duplicates(texts, refs) == [None, 0, 1]


def test_a_row_repeating_only_a_dropped_row_is_kept() -> None:
    # unigram sets: A ~ B and B ~ C (Jaccard 95/105 = 0.905), A vs C 90/110 = 0.818; threshold between
    a = [f"w{k}" for k in range(100)]
    b = [f"x{k}" for k in range(5)] + a[5:]
    c = b[:95] + [f"y{k}" for k in range(5)]
    texts = [" ".join(t) for t in (a, b, c)]
    assert near_duplicates(texts, threshold=0.86, num_perm=512, ngram=1) == [None, 0, None]


def test_keep_first_resolves_chains_and_references() -> None:
    # items 0-1 are references; pairs say which later item resembles which earlier one
    left, right = np.array([0, 2, 3, 2, 1]), np.array([2, 3, 4, 4, 5])
    assert keep_first(2, 6, left, right) == [0, None, 3, 1]


def test_estimated_jaccard_tracks_the_true_one() -> None:
    a = " ".join(f"w{k}" for k in range(100))
    b = " ".join([f"w{k}" for k in range(80)] + [f"x{k}" for k in range(20)])  # unigram Jaccard 80 / 120
    left, right, est = near_duplicate_pairs([a, b], threshold=0.5, num_perm=256, ngram=1)
    assert left.tolist() == [0] and right.tolist() == [1]
    assert abs(est[0] - 80 / 120) < 0.08


def test_char_shingles_catch_spelling_variants() -> None:
    texts = ["the colour of this tea is lovely and the flavour is rich", "the color of this tea is lovely and the flavor is rich"]
    assert near_duplicates(texts, ngram=3) == [None, None]  # word 3-grams: the changed words break most of them
    assert near_duplicates(texts, unit="char", ngram=4, threshold=0.7) == [None, 0]


def test_signatures_are_deterministic_and_empty_rows_marked() -> None:
    texts = [BASE, "", None, "short"]
    s1, s2 = signatures(texts, num_perm=64), signatures(texts, num_perm=64)
    assert s1.dtype == np.uint32 and s1.shape == (4, 64)
    assert np.array_equal(s1, s2)
    assert (s1[1] == EMPTY).all() and (s1[2] == EMPTY).all() and not (s1[3] == EMPTY).all()
    assert not np.array_equal(signatures(texts, num_perm=64, seed=1), s1)


def test_texts_read_at_positions_give_what_the_gathered_texts_give() -> None:
    # dedup ranks its candidates and hands their positions over rather than a sorted copy of their texts
    texts = [REVIEW, BASE, "unrelated words here", _swap(BASE, 5, "cheap"), None, _swap(REVIEW, 3, "kitten"), BASE]
    positions = np.array([6, 3, 0, 4, 5, 1])
    gathered = [texts[i] for i in positions]
    assert np.array_equal(signatures(texts, num_perm=64, positions=positions), signatures(gathered, num_perm=64))
    refs = [_swap(REVIEW, 10, "cat")]
    expected = near_duplicates(gathered, refs)
    assert expected == [None, 1, 0, None, 0, 1]  # the first BASE kept; the REVIEW copies repeat the reference
    assert near_duplicates(texts, refs, positions=positions) == expected


def test_short_texts_are_one_shingle_and_tokens_ignore_case_and_punctuation() -> None:
    hashes, rows = ngrams(tokens(["Hello, world!", "hello world", "hello there world"]), 3)
    # the two short texts have one identical shingle; the 3-word text has its single 3-gram
    assert rows.tolist() == [0, 1, 2]
    assert hashes[0] == hashes[1] != hashes[2]


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 128), (0.8, 128), (0.9, 256)])
def test_band_shape_matches_datasketch(threshold: float, num_perm: int) -> None:
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_bands(threshold, num_perm) == (lsh.b, lsh.r)


def test_pairs_found_a_block_of_signatures_at_a_time_are_the_pairs_of_all_signatures(monkeypatch) -> None:
    # only band keys are kept per block and the candidates' signatures computed again: the answer may not move
    from synth_assets.filters import near_dup

    words = BASE.split() + REVIEW.split()
    rng = np.random.default_rng(5)
    texts = [" ".join(rng.choice(words, size=40)) for _ in range(30)]
    texts += [_swap(t, 7, "changed") for t in texts[:12]] + [None, ""] + texts[:3]
    bands, rows = lsh_bands(0.5, 64, *near_dup.RECALL_WEIGHTS)
    expected = near_dup.similar_pairs(signatures(texts, num_perm=64, ngram=2), 0.5, bands, rows, n_ref=2)
    monkeypatch.setattr(near_dup, "SIGNATURE_ROWS", 7)
    blocked = near_duplicate_pairs(texts, threshold=0.5, num_perm=64, ngram=2, n_ref=2)
    assert expected[0].size >= 15
    assert all(np.array_equal(a, b) for a, b in zip(expected, blocked))
