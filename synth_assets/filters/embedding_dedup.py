"""Semantic duplicates: texts whose sentence embeddings have cosine similarity >= threshold.

The idea of SemDeDup (Abbas et al., "SemDeDup: Data-efficient learning at web-scale through
semantic deduplication", 2023), without its k-means step: filtered tables are small enough for
exact blockwise similarity against every earlier row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from synth_assets.filters.dedup import dup_column, text_candidates
from synth_assets.filters.embeddings import TextEmbedder
from synth_assets.filters.keep_first import keep_first
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict

_BLOCK_CELLS = 1 << 24  # similarity cells per block: 64 MB of float32 at a time


def cosine_pairs(emb: np.ndarray, threshold: float, n_ref: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, cosine) of every pair left < right with cosine >= threshold, right >= n_ref."""
    n = emb.shape[0]
    lefts, rights, sims = [], [], []
    block = max(1, min(4096, _BLOCK_CELLS // max(n, 1)))
    for lo in range(n_ref, n, block):
        hi = min(lo + block, n)
        sim = emb[lo:hi] @ emb[:hi].T
        # only earlier rows count: column < row
        sim[np.arange(hi - lo)[:, None] + lo <= np.arange(hi)[None, :]] = -np.inf
        r, c = np.nonzero(sim >= threshold)
        lefts.append(c)
        rights.append(r + lo)
        sims.append(sim[r, c])
    if not lefts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(sims)


def embedding_duplicates(texts: Sequence[str | None], reference_texts: Sequence[str | None] = (), threshold: float = 0.95,
                         *, embedder: TextEmbedder) -> list[int | None]:
    """Per text: the index in [*reference_texts, *texts] of the kept item it means the same as, or None."""
    refs, texts = list(reference_texts), list(texts)
    if not texts:
        return []
    emb = embedder.encode(refs + texts)
    left, right, _ = cosine_pairs(emb, threshold, n_ref=len(refs))
    return keep_first(len(refs), len(refs) + len(texts), left, right)


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    threshold = inputs.spec.filters.embedding_dedup.threshold

    def find(texts: pl.Series, positions: np.ndarray, refs: pl.Series) -> list[int | None]:
        return embedding_duplicates(texts.gather(positions), refs, threshold=threshold, embedder=inputs.embedder)

    df = dup_column(df, text_candidates(df, eligible), inputs.labelled_seeds, "embed_dup_of", find)
    reason = pl.when(pl.col("embed_dup_of").is_not_null()).then(pl.lit("semantic_duplicate"))
    return Verdict(df, reason, pl.col("embed_dup_of").is_null())


EMBEDDING_DEDUP = FilterStep(name="embedding_dedup", section="embedding_dedup", run=_run, reasons=("semantic_duplicate",),
                             needs=("embedder",), columns={"embed_dup_of": pl.String})
