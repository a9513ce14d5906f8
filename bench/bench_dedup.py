"""MinHash-LSH near-duplicate search: synth's vectorised filter against a straightforward datasketch pipeline.

Run: .venv/bin/python bench/bench_dedup.py [--rows 100000] [--pairs-share 0.05] [--threshold 0.8] [--num-perm 128]
Needs the `dev` extra (datasketch). Builds synthetic texts from a Zipf-weighted vocabulary and plants
near-duplicate pairs (copies with 0-4 words replaced) whose true word-3-gram Jaccard is computed
exactly. Both sides start from the raw texts, use the same shingles (lowercased word 3-grams), the
same num_perm, threshold and band shape (LSH weights RECALL_WEIGHTS), and verify LSH candidates by estimated Jaccard >= threshold.
Prints times and their ratio, the recall of planted pairs at or above the threshold for each side, and
the overlap of the two pair sets, all from one run; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np

from synth_assets.filters.near_dup import RECALL_WEIGHTS, lsh_bands, near_duplicate_pairs, signatures

NGRAM = 3


def synthetic_texts(rows: int, pairs_share: float, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """Texts of 30-80 Zipf-distributed words; a share of rows are edited copies of an earlier row."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(20000)])
    p = 1.0 / np.arange(10, 20010) ** 0.9
    p /= p.sum()
    lengths = rng.integers(30, 81, size=rows)
    words = np.split(rng.choice(len(vocab), size=int(lengths.sum()), p=p), np.cumsum(lengths)[:-1])
    n_pairs = int(rows * pairs_share)
    copies = rng.choice(np.arange(1, rows), size=n_pairs, replace=False)
    planted = []
    for j in sorted(copies.tolist()):
        i = int(rng.integers(0, j))
        w = words[i].copy()
        edits = int(rng.integers(0, 5))
        w[rng.choice(w.size, size=edits, replace=False)] = rng.integers(0, len(vocab), size=edits)
        words[j] = w
        planted.append((i, j))
    return [" ".join(vocab[w]) for w in words], planted


def shingle_set(text: str) -> set[str]:
    w = re.findall(r"\w+", text.lower())
    return {" ".join(w[k:k + NGRAM]) for k in range(len(w) - NGRAM + 1)} or {" ".join(w)}


def datasketch_pairs(texts: list[str], threshold: float, num_perm: int) -> tuple[set[tuple[int, int]], list]:
    """The straightforward reference: MinHash.bulk, MinHashLSH insert + query, verify by estimated Jaccard."""
    from datasketch import MinHash, MinHashLSH

    sketches = MinHash.bulk([[s.encode("utf-8") for s in shingle_set(t)] for t in texts], num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=RECALL_WEIGHTS)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sketches):
            session.insert(i, m)
    found = set()
    for j, m in enumerate(sketches):
        for i in lsh.query(m):
            if i < j and sketches[i].jaccard(m) >= threshold:
                found.add((i, j))
    return found, sketches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pairs-share", type=float, default=0.05)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--skip-reference", action="store_true", help="time synth only")
    args = ap.parse_args()

    texts, planted = synthetic_texts(args.rows, args.pairs_share)
    true_j = np.array([len((a := shingle_set(texts[i])) & (b := shingle_set(texts[j]))) / len(a | b) for i, j in planted])
    above = [pair for pair, jac in zip(planted, true_j) if jac >= args.threshold]
    below = [pair for pair, jac in zip(planted, true_j) if jac < args.threshold]
    bands, rows = lsh_bands(args.threshold, args.num_perm, *RECALL_WEIGHTS)
    print(f"{args.rows} rows, {len(planted)} planted pairs: {len(above)} with true Jaccard >= {args.threshold}, "
          f"{len(below)} below (min {true_j.min():.2f}); num_perm {args.num_perm}, {bands} bands x {rows} rows")

    start = time.perf_counter()
    left, right, _ = near_duplicate_pairs(texts, args.threshold, args.num_perm, ngram=NGRAM)
    ours_s = time.perf_counter() - start
    ours = set(zip(left.tolist(), right.tolist()))

    def recall(found: set) -> float:
        return sum(p in found for p in above) / max(len(above), 1)

    def below_found(found: set) -> float:
        return sum(p in found for p in below) / max(len(below), 1)

    print(f"synth       {ours_s:8.2f} s  pairs {len(ours):6d}  recall(planted >= t) {recall(ours):.4f}  "
          f"found of planted < t {below_found(ours):.4f}")
    if args.skip_reference:
        return
    start = time.perf_counter()
    ref, sketches = datasketch_pairs(texts, args.threshold, args.num_perm)
    ref_s = time.perf_counter() - start
    print(f"datasketch  {ref_s:8.2f} s  pairs {len(ref):6d}  recall(planted >= t) {recall(ref):.4f}  "
          f"found of planted < t {below_found(ref):.4f}")
    union = ours | ref

    def median_true_j(pairs: set) -> float:
        return float(np.median([len(shingle_set(texts[i]) & shingle_set(texts[j])) / len(shingle_set(texts[i]) | shingle_set(texts[j]))
                                for i, j in pairs])) if pairs else float("nan")

    sig = signatures(texts, args.num_perm, NGRAM)  # outside the timing: the estimates behind both answers
    ours_err = np.array([(sig[i] == sig[j]).mean() for i, j in planted]) - true_j
    ref_err = np.array([sketches[i].jaccard(sketches[j]) for i, j in planted]) - true_j
    print(f"Jaccard estimate - truth over planted pairs: synth mean {ours_err.mean():+.4f} sd {ours_err.std():.4f}, "
          f"datasketch mean {ref_err.mean():+.4f} sd {ref_err.std():.4f}")
    print(f"median true Jaccard of pairs found by one side only: synth {median_true_j(ours - ref):.3f}, "
          f"datasketch {median_true_j(ref - ours):.3f} (estimates near the threshold fall either way)")
    print(f"time datasketch / synth: {ref_s / ours_s:.2f}x   recall synth - datasketch: {recall(ours) - recall(ref):+.4f}   "
          f"pair overlap |A&B|/|A|B|: {len(ours & ref) / max(len(union), 1):.4f}  "
          f"(only synth {len(ours - ref)}, only datasketch {len(ref - ours)})")


if __name__ == "__main__":
    main()
