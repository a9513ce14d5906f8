"""The row-level teacher-call cache: append-only Parquet shards, one per finished batch.

Shards make a crash lose at most the batch in flight and let concurrent runs (partitions,
multiprocess executors) write without locks; readers union them. The DuckDB view
`teacher_cache` makes the cache inspectable with SQL. Only successful calls are cached, so a
failed call is retried by the next run. Should a key ever be stored twice, its oldest row is
the answer: lookups pick it and compaction keeps only it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from filelock import FileLock, Timeout
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from synth_assets.inference.base import GenerationRequest, GenerationResult
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
_SHARD_SCAN = {"schema": SCHEMA, "missing_columns": "insert", "extra_columns": "ignore"}
COMPACT_LOCK = ".compact.lock"


def first_per_key(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per cache_key, the oldest: every reader and every compaction agrees on which answer a key has."""
    return rows.sort("created_at", maintain_order=True).unique(subset="cache_key", keep="first", maintain_order=True)


@dataclass(frozen=True)
class TeacherCall:
    """A request plus everything its cache key is made of."""

    key: str
    request: GenerationRequest
    strategy: str
    strategy_version: str


class TeacherCache:
    """Look up and append cached teacher results under <warehouse>/_cache/teacher/."""

    def __init__(self, root: Path):
        self.dir = Path(root) / "_cache" / "teacher"

    def _shards(self) -> list[Path]:
        return sorted(self.dir.glob("*.parquet")) if self.dir.is_dir() else []

    def _hits(self, wanted: list[str]) -> pl.DataFrame | None:
        """The cached rows of the wanted keys, oldest per key; None while there is no shard at all."""
        shards = self._shards()
        if not shards:
            return None
        return first_per_key(pl.scan_parquet(shards, **_SHARD_SCAN).filter(pl.col("cache_key").is_in(wanted))).collect()

    def lookup(self, keys: list[str]) -> dict[str, GenerationResult]:
        """Cached results for the keys that have one."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        # a shard compacted away between listing and reading: list again, three tries 50 then 100 ms apart
        retrying = Retrying(retry=retry_if_exception_type(FileNotFoundError), stop=stop_after_attempt(3),
                            wait=wait_incrementing(start=0.05, increment=0.05))
        try:
            hits = retrying(self._hits, wanted)
        except RetryError:
            raise RuntimeError(f"teacher cache {self.dir} kept changing while being read") from None
        if hits is None:
            return {}
        return {
            row["cache_key"]: GenerationResult(
                text=row["text"],
                choice_logprobs=json.loads(row["choice_logprobs"]) if row["choice_logprobs"] else None,
                token_logprobs=json.loads(row["token_logprobs"]) if row["token_logprobs"] else None,
                tokens_in=row["tokens_in"],
                tokens_out=row["tokens_out"],
                latency_ms=row["latency_ms"],
            )
            for row in hits.iter_rows(named=True)
        }

    def append(self, model_id: str, calls: list[TeacherCall], results: list[GenerationResult]) -> int:
        """Persist the successful results of one batch as a new shard; returns how many were stored."""
        now = datetime.now(timezone.utc)
        rows = [
            {
                "cache_key": c.key,
                "model_id": model_id,
                "strategy": c.strategy,
                "strategy_version": c.strategy_version,
                "messages": json.dumps([list(m) for m in c.request.messages], ensure_ascii=False),
                "params": json.dumps(c.request.params.as_dict(), sort_keys=True),
                "choices": json.dumps(list(c.request.choices)) if c.request.choices is not None else None,
                "text": r.text,
                "choice_logprobs": json.dumps(r.choice_logprobs) if r.choice_logprobs is not None else None,
                "token_logprobs": json.dumps(r.token_logprobs, ensure_ascii=False) if r.token_logprobs is not None else None,
                "tokens_in": r.tokens_in,
                "tokens_out": r.tokens_out,
                "latency_ms": r.latency_ms,
                "created_at": now,
            }
            for c, r in zip(calls, results)
            if r.ok
        ]
        if rows:
            name = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.parquet"
            write_parquet_atomic(pl.DataFrame(rows, schema=SCHEMA), self.dir / name)
        return len(rows)

    def compact(self, min_shards: int = 64) -> None:
        """Merge many small shards into one so lookups stay fast; safe beside concurrent appends and compactions.

        One compaction at a time (a lock beside the shards; a busy lock means another process is
        doing this job): two that merged the same shards would each write every key once more.
        """
        if len(self._shards()) < min_shards:
            return
        lock = FileLock(self.dir / COMPACT_LOCK)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return
        try:
            shards = self._shards()  # listed under the lock: none of these is being merged elsewhere
            if len(shards) < min_shards:
                return
            merged = first_per_key(pl.scan_parquet(shards, **_SHARD_SCAN)).collect()
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            write_parquet_atomic(merged, self.dir / f"{stamp}-compacted-{uuid.uuid4().hex[:8]}.parquet")
            for shard in shards:  # only the shards that were merged; new ones stay
                shard.unlink(missing_ok=True)
        finally:
            lock.release()
