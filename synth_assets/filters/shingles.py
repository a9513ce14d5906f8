"""Word or character n-gram hashes of many texts at once, as flat numpy arrays (for MinHash and decontamination).

Texts are normalised by polars (lowercase; for words, every run of non-word characters becomes
one space, so punctuation and case never make two texts differ), then the whole batch becomes
one array of code points and every step after that is a numpy array operation over all rows:
word hashes by a polynomial over their characters, n-gram hashes by mixing n consecutive token
hashes. The hashes depend only on the text, never on the process or library version, so
results are the same in every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Unit = Literal["word", "char"]

_CHAR_BASE = np.uint64(0x100000001B3)  # FNV-64 prime: base of the per-word character polynomial


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit over the output."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xC4CEB9FE1A85EC53)
    return x ^ (x >> np.uint64(33))


def hash_constants(seed: int, count: int) -> np.ndarray:
    """`count` odd 64-bit constants from a seed (splitmix64 stream: the same on every numpy version)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    steps = (np.arange(1, count + 1, dtype=np.uint64) + np.uint64(seed % (1 << 32) << 32)) * golden
    return fmix64(steps) | np.uint64(1)


# one multiplier per position in an n-gram (n is at most len(_POSITION_MULT))
_POSITION_MULT = hash_constants(0x5EED, 64)


def normalise(texts: Sequence[str | None] | pl.Series, unit: Unit = "word") -> pl.Series:
    """Lowercased text; for words, tokens joined by single spaces (punctuation dropped), nulls as ''."""
    s = pl.Series("t", texts, dtype=pl.String).fill_null("").str.to_lowercase()
    if unit == "word":
        return s.str.replace_all(r"[^\w]+", " ").str.strip_chars()
    return s.str.replace_all(r"\s+", " ").str.strip_chars()


@dataclass(frozen=True)
class Tokens:
    """Token hashes of a batch of texts, in text order, with the row each belongs to."""

    hashes: np.ndarray  # uint64
    rows: np.ndarray  # int64, non-decreasing
    n_rows: int

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.rows, minlength=self.n_rows)


def tokens(texts: Sequence[str | None] | pl.Series, unit: Unit = "word") -> Tokens:
    """Hash every word (or character) of every text; rows are positions in `texts`."""
    norm = normalise(texts, unit)
    n = len(norm)
    if n == 0:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64), 0)
    if unit == "char":  # NUL marks row ends (the word normalisation has already removed it)
        norm = norm.str.replace_all("\x00", "", literal=True)
    joined = "\x00".join(norm.to_list())
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype="<u4")
    row_ends = np.flatnonzero(cp == 0)  # text k ends at row_ends[k] (the last one at the buffer end)
    if unit == "char":
        keep = np.flatnonzero(cp != 0)
        return Tokens(fmix64(cp[keep].astype(np.uint64) + np.uint64(1)), np.searchsorted(row_ends, keep), n)
    # words are maximal runs of code points other than space and NUL
    padded = np.zeros(cp.size + 2, dtype=bool)
    padded[1:-1] = (cp != 0) & (cp != 32)
    change = np.flatnonzero(padded[1:] != padded[:-1])
    starts, lengths = change[0::2], change[1::2] - change[0::2]
    if starts.size == 0:
        return Tokens(np.zeros(0, np.uint64), np.zeros(0, np.int64), n)
    # Horner's rule, one character position at a time over every word still that long: words sorted by
    # length (radix sort on small ints) make "still that long" a prefix, so each step is a slice
    key = -lengths.astype(np.int16) if lengths.max() < 1 << 15 else -lengths
    order = np.argsort(key, kind="stable")
    by_len, first = lengths[order], starts[order]
    acc = np.zeros(starts.size, dtype=np.uint64)
    neg = -by_len
    for m in range(int(by_len[0])):
        k = int(np.searchsorted(neg, -m, side="left"))  # words longer than m
        acc[:k] = acc[:k] * _CHAR_BASE + (cp[first[:k] + m].astype(np.uint64) + np.uint64(1))
    hashes = np.empty_like(acc)
    hashes[order] = fmix64(acc ^ by_len.astype(np.uint64))
    return Tokens(hashes, np.searchsorted(row_ends, starts), n)


def _combine(hashes: np.ndarray, first: np.ndarray, width: int | np.ndarray) -> np.ndarray:
    """Order-sensitive hash of `width` consecutive token hashes starting at each index of `first`."""
    acc = np.zeros(first.size, dtype=np.uint64)
    widths = np.broadcast_to(width, first.shape)
    for m in range(int(widths.max(initial=0))):
        use = widths > m
        acc[use] += hashes[first[use] + m] * _POSITION_MULT[m]
    return fmix64(acc)


def ngrams(tok: Tokens, n: int, short: Literal["whole", "drop"] = "whole") -> tuple[np.ndarray, np.ndarray]:
    """(n-gram hashes, row of each), sorted by row; a text with fewer than n tokens gives one
    n-gram of all its tokens (`whole`) or none (`drop`)."""
    if not 1 <= n <= len(_POSITION_MULT):
        raise ValueError(f"ngram must be between 1 and {len(_POSITION_MULT)}, got {n}")
    counts = tok.counts
    m = tok.hashes.size
    first = np.arange(max(m - n + 1, 0))
    first = first[tok.rows[first] == tok.rows[first + n - 1]] if first.size else first
    hashes, rows = _combine(tok.hashes, first, n), tok.rows[first]
    if short == "whole":
        short_rows = np.flatnonzero((counts > 0) & (counts < n))
        if short_rows.size:
            row_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
            extra = _combine(tok.hashes, row_start[short_rows], counts[short_rows])
            hashes, rows = np.concatenate([hashes, extra]), np.concatenate([rows, short_rows])
            order = np.argsort(rows, kind="stable")
            hashes, rows = hashes[order], rows[order]
    return hashes, rows
