"""Semantic duplicates: blockwise cosine on handmade vectors, and MiniLM on reworded sentences."""

from __future__ import annotations

import numpy as np
import pytest

from synth_assets.filters import embedding_dedup
from synth_assets.filters.embedding_dedup import cosine_pairs, embedding_duplicates
from synth_assets.filters.embeddings import TextEmbedder


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_cosine_pairs_only_look_back_and_skip_reference_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = _unit([1, 0, 0], [1, 0.05, 0], [0, 1, 0], [0.02, 1, 0], [1, 0.01, 0], [0, 0, 1])
    monkeypatch.setattr(embedding_dedup, "_BLOCK_CELLS", 6)  # one row per block: the block edges are exercised too
    left, right, sim = cosine_pairs(emb, 0.99, n_ref=2)
    # (0, 1) are both references: not a pair; 4 resembles 0 and 1; 3 resembles 2
    assert sorted(zip(left.tolist(), right.tolist())) == [(0, 4), (1, 4), (2, 3)]
    assert (sim >= 0.99).all()


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder("embedded:all-minilm-l6-v2")


@pytest.mark.slow
def test_minilm_finds_reworded_duplicates(embedder: TextEmbedder) -> None:
    refs = ["The coffee arrived quickly and tastes great."]
    texts = [
        "The coffee arrived quickly and it tastes great!",  # 0.94 to the reference
        "My dog hates these biscuits.",
        "My dog really hates these biscuits!",  # 0.98 to the row before
        "These biscuits are my dog's least favourite snack.",  # 0.87: same topic, other wording, kept
        "The shipping was slow and the tea tasted stale.",
        "Tea was stale and it took forever to ship.",  # 0.89
        None,
    ]
    # indices point into [*refs, *texts]
    assert embedding_duplicates(texts, refs, threshold=0.88, embedder=embedder) == [0, None, 2, None, None, 5, None]
    assert embedding_duplicates(texts, refs, threshold=0.99, embedder=embedder) == [None] * 7
