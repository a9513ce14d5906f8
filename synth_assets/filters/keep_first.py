"""Keep-first resolution of similar pairs: a row is a duplicate only of something that is kept."""

from __future__ import annotations

import numpy as np


def keep_first(n_ref: int, n_total: int, left: np.ndarray, right: np.ndarray) -> list[int | None]:
    """For rows n_ref..n_total-1: the earliest kept item each is similar to, or None.

    Items 0..n_ref-1 are references (labelled seeds): always kept, never duplicates. A pair (i, j)
    with i < j says j resembles i. Rows are decided in order, and a row already marked a duplicate
    is not a reference for later rows: with A ~ B ~ C but A !~ C, B goes and C stays, as a
    sequential "keep it unless it repeats something kept" pass would decide.
    """
    dup_of = [-1] * n_total
    if left.size:
        order = np.lexsort((left, right))
        for i, j in zip(left[order].tolist(), right[order].tolist()):
            if j < n_ref or dup_of[j] >= 0 or dup_of[i] >= 0:
                continue
            dup_of[j] = i
    return [None if d < 0 else d for d in dup_of[n_ref:]]
