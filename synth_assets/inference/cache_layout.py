"""Where the teacher cache's rows live on disk: one folder per key prefix, sorted shards inside.

`_cache/teacher/p=<first two hex chars of cache_key>/<batch>.parquet`: cache keys are hex digests,
so the 256 partitions fill evenly and a lookup opens only the partitions of the keys it wants.
Rows inside every file are sorted by key, so the min/max statistics on `cache_key` of a file and
of its row groups let a reader skip what cannot match. Compaction merges one partition at a time under that
partition's lock, so its memory is bounded by one 256th of the cache, never the whole of it.

A persisted batch is first one flat file in `_cache/teacher/` (the spool): one atomic write per
batch, where splitting a batch of 256 calls across partitions would write ~160 files. `fold` moves
the spool into the partitions FOLD_ROWS rows at a time, one file per partition per fold, at the end
of a run and before a lookup. Caches written before partitions existed hold flat shards in the same
place, so the same fold upgrades them. The names a fold writes derive from the names of the flat
files it folds (rewriting after a crash replaces them, never adds rows), and a flat file is removed
only once all of its rows are durable in the partitions. Readers read both until then.

The fold and each partition's compaction take a lock, so two processes never do the same job at
once: a file lock in the cache folder (or, for a cache on an object store without file locks, in
the warehouse's local state folder); on S3, a lease object in the bucket (object_lease.py), so
every machine sharing the bucket takes turns, not only the processes of one machine.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from filelock import FileLock, Timeout

from synth_assets.storage.location import Location, children, is_s3, missing_file, parquet_file, parquet_rows, source
from synth_assets.storage.lease import Holder
from synth_assets.storage.object_lease import LeaseTimeout, ObjectLease
from synth_assets.storage.parquet import write_parquet_atomic

SCHEMA = {
    "cache_key": pl.String,
    "model_id": pl.String,
    "strategy": pl.String,
    "strategy_version": pl.String,
    "messages": pl.String,
    "params": pl.String,
    "choices": pl.String,
    "text": pl.String,
    "choice_logprobs": pl.String,
    "token_logprobs": pl.String,
    "tokens_in": pl.Int64,
    "tokens_out": pl.Int64,
    "latency_ms": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}
# Shards written before a column existed lack it (read as null); the current schema decides, not the first file.
SHARD_SCAN = {"schema": SCHEMA, "missing_columns": "insert", "extra_columns": "ignore"}
COMPACT_LOCK = ".compact.lock"  # one per partition folder
FOLD_LOCK = ".fold.lock"  # one beside the partitions
BUCKET_LOCKS = ".locks"  # on S3, the lease objects of the fold and the compactions, under the cache folder
PREFIX_CHARS = 2
OTHER = "__"  # a key that does not start with two hex digits (none written by synth) still has a home
# a partition is merged once it holds this many files: a lookup's cost grows with the files it opens
# (10k new keys against 10M entries: 0.7 s with one file a partition, 1.6-2.2 s with ten, bench_cache_lookup.py)
COMPACT_SHARDS = 8
FOLD_ROWS = 100_000  # flat rows folded into one file per partition at a time: bounds a fold's memory
_HEX = re.compile(f"[0-9a-f]{{{PREFIX_CHARS}}}")


def partition_of(key: str) -> str:
    """The partition a key lives in; `partition_expr` is the same rule over a column."""
    prefix = key[:PREFIX_CHARS]
    return prefix if _HEX.fullmatch(prefix) else OTHER


def partition_expr() -> pl.Expr:
    prefix = pl.col("cache_key").str.slice(0, PREFIX_CHARS)
    return pl.when(prefix.str.contains(f"^[0-9a-f]{{{PREFIX_CHARS}}}$")).then(prefix).otherwise(pl.lit(OTHER))


def first_per_key(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per cache_key, the oldest: every reader and every compaction agrees on which answer a key has."""
    return rows.sort("created_at", maintain_order=True).unique(subset="cache_key", keep="first", maintain_order=True)


def scan_shards(files: list[Location]) -> pl.LazyFrame:
    """Shards of any age as rows of the current schema."""
    return pl.scan_parquet([source(f) for f in files], **SHARD_SCAN)


def conform(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows of an older shard in the current schema: missing columns null, extra ones dropped."""
    return rows.select([pl.col(c).cast(t) if c in rows.columns else pl.lit(None, dtype=t).alias(c) for c, t in SCHEMA.items()])


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")


class _BucketLock:
    """A fold or compaction lock as a lease object in the cache's S3 bucket, with FileLock's acquire and release."""

    def __init__(self, path: Location):
        self.path = path
        self.lease = ObjectLease(path, asdict(Holder.here(f"teacher cache {path.name}")))

    def acquire(self, timeout: float = 0) -> None:
        try:
            self.lease.acquire(timeout)
        except LeaseTimeout:
            raise Timeout(str(self.path)) from None

    def release(self) -> None:
        self.lease.release()


@dataclass(frozen=True)
class CacheLayout:
    """The partitioned shard files under one cache folder, and the moves that keep them few.

    `locks` is the local folder of the fold and compaction locks: the cache folder itself, or, for a
    cache on an object store (which holds no file locks), its warehouse's state folder. On S3 the
    locks are lease objects in the bucket instead, shared by every machine.
    """

    dir: Location
    locks: Path | None = None

    def folder(self, part: str) -> Location:
        return self.dir / f"p={part}"

    def _lock(self, *names: str) -> FileLock | _BucketLock:
        if is_s3(self.dir):
            return _BucketLock(self.dir.joinpath(BUCKET_LOCKS, *names))
        path = (self.locks or Path(self.dir)).joinpath(*names)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(path)

    def flat_shards(self) -> list[Location]:
        """The spool, and shards of the pre-partition layout: flat files waiting for `fold`."""
        return [p for p, is_dir in children(self.dir) if not is_dir and p.suffix == ".parquet"]

    def partition_shards(self, part: str) -> list[Location]:
        return [p for p, is_dir in children(self.folder(part)) if not is_dir and p.suffix == ".parquet"]

    def partitions(self) -> list[str]:
        return [p.name[2:] for p, is_dir in children(self.dir) if is_dir and p.name.startswith("p=")]

    def shards(self) -> list[Location]:
        """Every shard file, flat ones first: what a whole-cache reader unions."""
        return self.flat_shards() + [f for part in self.partitions() for f in self.partition_shards(part)]

    def write(self, rows: pl.DataFrame, stem: str) -> list[Location]:
        """One file per touched partition, each named `stem` and sorted by key; each is atomic on its own."""
        written = []
        for (part,), group in rows.with_columns(_part=partition_expr()).sort("cache_key").group_by("_part"):
            path = self.folder(str(part)) / f"{stem}.parquet"
            written.append(write_parquet_atomic(group.drop("_part"), path))
        return written

    def spool(self, rows: pl.DataFrame, stem: str) -> Location:
        """One persisted batch as one flat file, sorted by key, until `fold` moves it into the partitions."""
        return write_parquet_atomic(rows.sort("cache_key"), self.dir / f"{stem}.parquet")

    def fold(self) -> bool:
        """Move the flat files into partitions; False when another process holds the job (readers still see both)."""
        if not self.flat_shards():
            return True
        lock = self._lock(FOLD_LOCK)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        try:
            # listed under the lock: no other process of this machine moves these. On an object store shared by
            # several machines another one may fold them meanwhile: a file gone is theirs to finish, never an error
            for group in _fold_groups(self.flat_shards()):
                self._fold_group(group)
        except OSError as exc:
            if not missing_file(exc):
                raise
        finally:
            lock.release()
        return True

    def _fold_group(self, group: list[Location]) -> None:
        """Write a group of flat files into the partitions under names of their own, then remove them.

        A group is either small files adding up to about FOLD_ROWS rows, or one large file, moved a
        FOLD_ROWS slice at a time. The names derive from the group's, so a rerun after a crash
        replaces the files it wrote before rather than adding a second copy of their rows.
        """
        if len(group) == 1:
            for i, batch in enumerate(parquet_file(group[0]).iter_batches(batch_size=FOLD_ROWS)):
                self.write(conform(pl.from_arrow(batch)), f"{group[0].stem}-m{i:05d}")
        else:
            self.write(scan_shards(group).collect(), f"{group[0].stem}-f{len(group):05d}")
        for shard in group:
            shard.unlink(missing_ok=True)

    def compact_partition(self, part: str, min_shards: int) -> bool:
        """Merge a partition's shards once it has `min_shards`; False when skipped (too few, or busy elsewhere).

        One compaction per partition at a time (a lock in its folder; a busy lock means another
        process is doing this job): two that merged the same shards would each write every key once
        more. Shards appended meanwhile are not listed, so they are neither merged nor removed.
        """
        folder = self.folder(part)
        if len(self.partition_shards(part)) < min_shards:
            return False
        lock = self._lock(folder.name, COMPACT_LOCK)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False
        try:
            shards = self.partition_shards(part)  # listed under the lock: none of these is being merged elsewhere
            if len(shards) < min_shards:
                return False
            merging = _to_merge(shards)
            if len(merging) < 2:
                return False
            merged = first_per_key(scan_shards(merging)).collect().sort("cache_key")
            write_parquet_atomic(merged, folder / f"{_stamp()}-compacted-{uuid.uuid4().hex[:8]}.parquet")
            for shard in merging:  # only the shards that were merged; new ones stay
                shard.unlink(missing_ok=True)
        finally:
            lock.release()
        return True


def _fold_groups(shards: list[Location]) -> list[list[Location]]:
    """The flat files in name (time) order, grouped to about FOLD_ROWS rows each (footers only are read)."""
    groups: list[list[Location]] = []
    rows = FOLD_ROWS
    for shard in shards:
        n = parquet_rows(shard)
        if n >= FOLD_ROWS or rows + n > FOLD_ROWS:
            groups.append([])
            rows = 0
        groups[-1].append(shard)
        rows += n
    return groups


def _to_merge(shards: list[Location]) -> list[Location]:
    """The shards worth rewriting: all of them, or all but a large base that no other shard shares a key with.

    Size-tiered (by row count), so a partition's big compacted file is rewritten only once the
    small ones add up to a quarter of its rows, not on every compaction; a key found in both is
    merged with the base, so a compacted partition never keeps two rows for it.
    """
    rows = {s: parquet_rows(s) for s in shards}  # footers only
    base = max(shards, key=rows.__getitem__)
    rest = [s for s in shards if s != base]
    if len(rest) < 2 or rows[base] < 4 * sum(rows[s] for s in rest):
        return shards
    keys = scan_shards(rest).select("cache_key")
    shared = scan_shards([base]).select("cache_key").join(keys, on="cache_key", how="semi").head(1).collect()
    return shards if shared.height else rest
