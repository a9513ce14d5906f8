"""Near-duplicate texts by MinHash-LSH, computed as numpy array operations over blocks of rows.

MinHash (Broder, "On the resemblance and containment of documents", 1997) estimates the Jaccard
similarity of two shingle sets by the share of equal minima under random hash permutations;
LSH banding (Leskovec, Rajaraman & Ullman, *Mining of Massive Datasets*, ch. 3) makes two rows a
candidate pair when all values of one of `b` bands of `r` minima agree. Candidate pairs are then
verified: only an estimated Jaccard >= threshold makes a pair. The band shape is the one that
minimises the weighted false positive / false negative areas under the S-curve at the threshold,
as datasketch's MinHashLSH chooses it (here weighted towards recall, see RECALL_WEIGHTS).

Permutations are multiply-shift hashes ((a*x + b) mod 2**64) >> 32 of each shingle's 32-bit hash,
with a, b drawn from a fixed seed: the same input gives the same answer in every run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from synth_assets.filters.dedup import dup_column, text_candidates
from synth_assets.filters.keep_first import keep_first
from synth_assets.filters.shingles import Unit, fmix64, hash_constants, ngrams, tokens
from synth_assets.filters.step import FilterInputs, FilterStep, Verdict

EMPTY = np.uint32(0xFFFFFFFF)  # the signature of a text with no shingles; such rows never match
_BAND_MULT = hash_constants(0xBA4D, 1024)
# weights of the false positive / false negative areas when choosing the band shape: candidates are
# verified, so a false positive costs one comparison while a false negative is a duplicate kept.
# (0.1, 0.9) at threshold 0.8 finds 87 % of pairs at J = 0.8 and 97 % at 0.85 (0.5/0.5: 40 %, 69 %)
RECALL_WEIGHTS = (0.1, 0.9)
# shingles per array pass: 8192 x 128 permutations x 8 bytes = 8 MB; measured on a 2-core CPU (4 MB L2):
# 2048 pays numpy call overhead per block (2.4x slower), 65536 falls out of the cache (2.2x slower)
_BLOCK_SHINGLES = 8192
_BLOCK_CHARS = 8_000_000  # code points per shingling block (~32 MB of utf-32)


def lsh_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows per band) minimising fp_weight * P(false positive) + fn_weight * P(false negative)."""
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    b, r = pairs[:, :1], pairs[:, 1:]
    lo, hi = np.linspace(0.0, threshold, 501), np.linspace(threshold, 1.0, 501)
    fp = np.trapezoid(1 - (1 - lo**r) ** b, lo, axis=1)
    fn = np.trapezoid((1 - hi**r) ** b, hi, axis=1)
    best = int(np.argmin(fp_weight * fp + fn_weight * fn))
    return int(pairs[best, 0]), int(pairs[best, 1])


def _workers() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _fill_signatures(sig: np.ndarray, x: np.ndarray, rows: np.ndarray, bounds: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Write the MinHash of rows[k] (its shingles x[bounds[k]:bounds[k+1]]) into sig[rows[k]].

    Work goes in blocks of about _BLOCK_SHINGLES shingles x num_perm that stay in the CPU cache: one
    pass over a huge (num_perm, all shingles) array would be bound by memory bandwidth.
    """
    # layout (num_perm, shingles): a row-wise reduceat over contiguous memory is ~7x faster than column-wise
    buf = np.empty((a.size, _BLOCK_SHINGLES + int(np.diff(bounds).max(initial=0))), dtype=np.uint64)
    a, b = a[:, None], b[:, None]
    k = 0
    while k < rows.size:
        end = max(min(int(np.searchsorted(bounds, bounds[k] + _BLOCK_SHINGLES, side="right")) - 1, rows.size), k + 1)
        s0, s1 = int(bounds[k]), int(bounds[end])
        h = buf[:, : s1 - s0]
        np.multiply(a, x[None, s0:s1], out=h)  # wraps mod 2**64: that is the hash
        h += b
        # the top 32 bits are the hash; min(h) >> 32 == min(h >> 32), and shifting after the min is cheaper
        sig[rows[k:end]] = (np.minimum.reduceat(h, bounds[k:end] - s0, axis=1) >> np.uint64(32)).T
        k = end


def signatures(texts: Sequence[str | None] | pl.Series, num_perm: int = 128, ngram: int = 3, unit: Unit = "word",
               seed: int = 0, positions: np.ndarray | None = None) -> np.ndarray:
    """(len(texts), num_perm) uint32 MinHash signatures; rows without shingles are all EMPTY.

    With `positions`, the signatures of texts[positions] in that order, gathered a block at a time (no copy of them).
    """
    series = pl.Series("t", texts, dtype=pl.String)  # nulls stay: tokens() reads a null as "", a block at a time
    n = len(series) if positions is None else len(positions)
    a, b = hash_constants(2 * seed + 1, num_perm), hash_constants(2 * seed + 2, num_perm)
    sig = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    workers = _workers()
    # rows in blocks of bounded size, so a 1M-row table does not need gigabytes at once; each worker
    # takes whole blocks (tokenising, shingling and hashing them), so the word hashing, which is most of
    # the time, runs on every core too; at least `workers` blocks, so small tables use every core as well
    chars = series.str.len_chars().fill_null(0).to_numpy().astype(np.int64) + 1
    if positions is not None:
        chars = chars[positions]
    per_block = max(1, min(_BLOCK_CHARS // workers, -(-int(chars.sum(initial=0)) // workers)))
    block = (np.cumsum(chars) - 1) // per_block
    edges = np.concatenate([[0], np.flatnonzero(np.diff(block)) + 1, [n]]) if n else np.zeros(1, np.int64)

    def fill(lo: int, hi: int) -> None:
        part = series.slice(lo, hi - lo) if positions is None else series.gather(positions[lo:hi])
        shingles, rows = ngrams(tokens(part, unit), ngram)
        if shingles.size == 0:
            return
        present, starts = np.unique(rows, return_index=True)
        # blocks hold disjoint rows, so workers write disjoint rows of sig
        _fill_signatures(sig, shingles >> np.uint64(32), lo + present, np.append(starts, shingles.size), a, b)

    with ThreadPoolExecutor(workers) as pool:  # numpy and polars release the GIL in these array passes
        list(pool.map(fill, edges[:-1].tolist(), edges[1:].tolist()))
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(len(sig), bands) uint64: one hash of each band of `rows` minima; two rows share a bucket when a key is equal."""
    keys = np.empty((sig.shape[0], bands), dtype=np.uint64)
    for k in range(bands):
        band = sig[:, k * rows:(k + 1) * rows].astype(np.uint64)
        keys[:, k] = fmix64((band * _BAND_MULT[:rows]).sum(axis=1, dtype=np.uint64))
    return keys


def candidate_pairs(keys: np.ndarray, present: np.ndarray, n_ref: int = 0, max_bucket: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(left, right), left < right, of rows sharing a bucket in some band (rows with `present` shingles only),
    not both below n_ref.

    In a bucket larger than `max_bucket` a row is paired only with the first `max_bucket` rows of
    the bucket: a huge cluster of near-copies is still found (each copy matches the earliest ones)
    without materialising its quadratic number of pairs.
    """
    n = keys.shape[0]
    idx = np.flatnonzero(present)
    codes = []
    for k in range(keys.shape[1]):
        key = keys[idx, k]
        order = np.argsort(key, kind="stable")  # stable: members of a bucket stay in row order
        members, ks = idx[order], key[order]
        new = np.ones(ks.size, dtype=bool)
        new[1:] = ks[1:] != ks[:-1]
        run_start = np.flatnonzero(new)[np.cumsum(new) - 1]
        count = np.minimum(np.arange(ks.size) - run_start, max_bucket)  # earlier members to pair with
        right = np.repeat(members, count)
        offset = np.arange(right.size) - np.repeat(np.cumsum(count) - count, count)
        left = members[np.repeat(run_start, count) + offset]
        keep = right >= n_ref
        codes.append(left[keep].astype(np.int64) * n + right[keep])
    code = np.unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    return code // n, code % n


def _estimates(sig: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The share of equal minima of each pair of rows of `sig`, 64k pairs at a time (bounded memory: 64k x num_perm booleans)."""
    est = np.empty(left.size, dtype=np.float64)
    for s in range(0, left.size, 65536):
        est[s:s + 65536] = (sig[left[s:s + 65536]] == sig[right[s:s + 65536]]).mean(axis=1)
    return est


def similar_pairs(sig: np.ndarray, threshold: float, bands: int, rows: int, n_ref: int = 0,
                  max_bucket: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, estimated Jaccard) of verified pairs, left < right, not both below n_ref (see candidate_pairs)."""
    left, right = candidate_pairs(band_keys(sig, bands, rows), (sig != EMPTY).any(axis=1), n_ref, max_bucket)
    est = _estimates(sig, left, right)
    ok = est >= threshold
    return left[ok], right[ok], est[ok]


# rows whose signatures are computed at a time; only their band keys are kept (bands x 8 bytes a row, 112 at the
# default shape, where a signature is num_perm x 4 = 512), and the signatures of rows in candidate pairs are computed again
SIGNATURE_ROWS = 100_000


def near_duplicate_pairs(texts: Sequence[str | None] | pl.Series, threshold: float = 0.8, num_perm: int = 128,
                         ngram: int = 3, unit: Unit = "word", seed: int = 0, n_ref: int = 0,
                         weights: tuple[float, float] = RECALL_WEIGHTS,
                         positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of texts (of texts[positions], given those) whose estimated shingle Jaccard is >= threshold:
    (left, right, estimate). The same pairs as similar_pairs over all signatures, in bounded memory: the
    signatures of SIGNATURE_ROWS rows at a time give band keys, and only candidates' signatures are computed twice."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    bands, rows = lsh_bands(threshold, num_perm, *weights)
    series = pl.Series("t", texts, dtype=pl.String)
    at = np.arange(len(series), dtype=np.int64) if positions is None else np.asarray(positions, dtype=np.int64)
    keys = np.empty((at.size, bands), dtype=np.uint64)
    present = np.zeros(at.size, dtype=bool)
    for lo in range(0, at.size, SIGNATURE_ROWS):
        sig = signatures(series, num_perm, ngram, unit, seed, positions=at[lo:lo + SIGNATURE_ROWS])
        keys[lo:lo + len(sig)] = band_keys(sig, bands, rows)
        present[lo:lo + len(sig)] = (sig != EMPTY).any(axis=1)
    left, right = candidate_pairs(keys, present, n_ref)
    del keys
    involved = np.unique(np.concatenate([left, right]))
    sig = signatures(series, num_perm, ngram, unit, seed, positions=at[involved])
    est = _estimates(sig, np.searchsorted(involved, left), np.searchsorted(involved, right))
    ok = est >= threshold
    return left[ok], right[ok], est[ok]


def near_duplicates(texts: Sequence[str | None] | pl.Series, reference_texts: Sequence[str | None] | pl.Series = (),
                    threshold: float = 0.8, num_perm: int = 128, ngram: int = 3, unit: Unit = "word",
                    seed: int = 0, positions: np.ndarray | None = None) -> list[int | None]:
    """Per text: the index in [*reference_texts, *texts] of the kept item it nearly repeats, or None.

    References (labelled seeds) are always kept; among `texts` the first of a group is kept, and a
    text that repeats a text already dropped is judged against the kept ones only. With `positions`,
    the texts are texts[positions], in that order, read where they lie.
    """
    refs = pl.Series("t", reference_texts, dtype=pl.String)
    every = pl.concat([refs, pl.Series("t", texts, dtype=pl.String)], rechunk=False)  # two chunks, no copy
    if positions is not None:
        positions = np.concatenate([np.arange(len(refs)), len(refs) + np.asarray(positions, dtype=np.int64)])
    total = len(every) if positions is None else len(positions)
    left, right, _ = near_duplicate_pairs(every, threshold, num_perm, ngram, unit, seed, n_ref=len(refs), positions=positions)
    return keep_first(len(refs), total, left, right)


def _run(df: pl.DataFrame, eligible: pl.Expr, inputs: FilterInputs) -> Verdict:
    cfg = inputs.spec.filters.near_dedup

    def find(texts: pl.Series, positions: np.ndarray, refs: pl.Series) -> list[int | None]:
        return near_duplicates(texts, refs, threshold=cfg.threshold, num_perm=cfg.num_perm, ngram=cfg.ngram, unit=cfg.unit,
                               positions=positions)

    df = dup_column(df, text_candidates(df, eligible), inputs.labelled_seeds, "near_dup_of", find)
    reason = pl.when(pl.col("near_dup_of").is_not_null()).then(pl.lit("near_duplicate"))
    return Verdict(df, reason, pl.col("near_dup_of").is_null())


NEAR_DEDUP = FilterStep(name="near_dedup", section="near_dedup", run=_run, reasons=("near_duplicate",),
                        columns={"near_dup_of": pl.String})
