"""What a teacher-cache lookup costs as the cache grows: 10k new keys, 10k cached keys, 10 keys.

Run: .venv/bin/python bench/bench_cache_lookup.py [--entries 1000000] [--lookup 10000] [--json PATH] [--dir PATH]
Builds a synthetic cache of `--entries` rows in the partitioned layout (`_cache/teacher/p=ab/`), written
as the cache writes them (`CacheLayout.write`: one sorted file per partition per million rows, like a
cache whose partitions have not all been compacted), with rows of realistic size (a rendered review
prompt, sampling params, label choices and their log-probabilities), then times `TeacherCache.lookup`.
Then it compacts the cache as a run's teacher step does at its end (partitions of 8 files or more
are merged) and times the lookups again: the state the next run's lookup meets.
The issue's target is 10,000 new keys against 10,000,000 entries in at most 2 s (`--entries 10000000`:
building takes about ten times the 1M build printed below, and ~1 GB of disk). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from synth_assets.inference.cache import SCHEMA, TeacherCache

CHUNK = 1_000_000  # rows per written batch: bounds the build's memory, and gives each partition one file per chunk


def _keys(rng: np.random.Generator, n: int) -> pl.Series:
    """n random 32-hex-digit keys, like GenerationRequest.cache_key's digests."""
    return pl.Series("cache_key", np.frombuffer(rng.bytes(16 * n).hex().encode(), dtype="S32")).cast(pl.String)


def _rows(keys: pl.Series, offset: int) -> pl.DataFrame:
    n = len(keys)
    i = pl.int_range(offset, offset + n, eager=True)
    review = pl.format("Review {}: the plot held up for most of it, the acting was uneven and the ending was "
                       "rushed, though I would still watch it again with friends.", i)
    frame = pl.DataFrame({"cache_key": keys, "i": i}).with_columns(
        model_id=pl.lit("embedded:SmolLM2-135M-Instruct"),
        strategy=pl.lit("label"),
        strategy_version=pl.lit("3"),
        messages=pl.concat_str([pl.lit('[["system", "Label the sentiment of the review."], ["user", "'),
                                pl.select(review).to_series(), pl.lit('"]]')]),
        params=pl.lit('{"max_new_tokens": 4, "seed": 0, "temperature": 0.0, "top_p": 1.0}'),
        choices=pl.lit('["negative", "positive"]'),
        text=pl.when(pl.col("i") % 3 == 0).then(pl.lit("negative")).otherwise(pl.lit("positive")),
        choice_logprobs=pl.concat_str([pl.lit('{"negative": -'), (pl.col("i") % 7).cast(pl.String),
                                       pl.lit(', "positive": -0.'), (pl.col("i") % 97).cast(pl.String), pl.lit("}")]),
        token_logprobs=pl.lit(None, dtype=pl.String),
        tokens_in=(pl.col("i") % 40 + 50).cast(pl.Int64),
        tokens_out=pl.lit(1, dtype=pl.Int64),
        latency_ms=(pl.col("i") % 500).cast(pl.Float64) / 10,
        created_at=pl.lit(datetime(2025, 1, 1, tzinfo=timezone.utc), dtype=SCHEMA["created_at"]),
    )
    return frame.select(list(SCHEMA))


def build(root: Path, entries: int, rng: np.random.Generator, sample: int) -> tuple[float, list[str]]:
    """Write the synthetic cache; returns the seconds it took and `sample` of its keys."""
    started, kept = time.perf_counter(), []
    cache = TeacherCache(root)
    for n, offset in enumerate(range(0, entries, CHUNK)):
        keys = _keys(rng, min(CHUNK, entries - offset))
        kept.extend(keys.sample(min(len(keys), sample), seed=n).to_list())
        cache.layout.write(_rows(keys, offset), f"20250101T000000{n:06d}-bench")
    return time.perf_counter() - started, kept


def _timed(cache: TeacherCache, keys: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    hits = cache.lookup(keys)
    return time.perf_counter() - started, len(hits)


def _lookups(root: Path, new: list[str], existing: list[str], results: dict, prefix: str) -> None:
    for name, keys in (("new", new), ("existing", existing), ("ten_existing", existing[:10])):
        seconds, hits = _timed(TeacherCache(root), keys)  # a fresh handle each time, as each run makes one
        results[f"{prefix}lookup_{name}_s"] = round(seconds, 3)
        results[f"{prefix}lookup_{name}_hits"] = hits
    print(f"  lookup of {len(new):,} new keys:      {results[f'{prefix}lookup_new_s']:.3f} s ({results[f'{prefix}lookup_new_hits']} hits)")
    print(f"  lookup of {len(existing):,} cached keys:   {results[f'{prefix}lookup_existing_s']:.3f} s "
          f"({results[f'{prefix}lookup_existing_hits']} hits)")
    print(f"  lookup of 10 cached keys:        {results[f'{prefix}lookup_ten_existing_s']:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookup", type=int, default=10_000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--dir", type=Path, help="build the cache here and keep it (default: a temp folder, removed)")
    args = ap.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="synth-bench-cache-lookup-"))
    rng = np.random.default_rng(0)
    try:
        build_s, existing = build(root, args.entries, rng, sample=-(-args.lookup // max(1, -(-args.entries // CHUNK))))
        cache = TeacherCache(root)
        files = cache.shards()
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        new = _keys(rng, args.lookup).to_list()
        results = {"entries": args.entries, "files": len(files), "size_mb": round(size_mb, 1), "build_s": round(build_s, 2)}
        print(f"{args.entries:,} entries in {len(files)} files ({size_mb:.0f} MB), built in {build_s:.1f} s")
        _lookups(root, new, existing[:args.lookup], results, "")
        # what a run leaves behind: its teacher step ends with compact(), which merges partitions of 8+ files
        started = time.perf_counter()
        TeacherCache(root).compact()
        results["compact_s"] = round(time.perf_counter() - started, 2)
        results["compacted_files"] = len(TeacherCache(root).shards())
        print(f"compacted to {results['compacted_files']} files in {results['compact_s']:.1f} s (as a run's teacher step ends)")
        _lookups(root, new, existing[:args.lookup], results, "compacted_")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
