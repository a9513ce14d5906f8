"""The row-level teacher-call cache: Parquet shards partitioned by key prefix, fed by one spool file per finished batch.

Shards make a crash lose at most the batch in flight and let concurrent runs (partitions,
multiprocess executors) write without locks; readers union the spool and the shards of the
partitions their keys fall in (the layout: cache_layout.py). The DuckDB view `teacher_cache` makes the cache
inspectable with SQL. Only successful calls are cached, so a failed call is retried by the next
run. Should a key ever be stored twice, its oldest row is the answer: lookups pick it and
compaction keeps only it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_incrementing

from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.cache_layout import COMPACT_LOCK, COMPACT_SHARDS, SCHEMA, CacheLayout, first_per_key, partition_of, scan_shards
from synth_assets.storage.location import Location, missing_file, state_dir, warehouse_location

__all__ = ["COMPACT_LOCK", "SCHEMA", "TeacherCache", "TeacherCall", "first_per_key"]
# what a lookup turns into a GenerationResult (and picks the oldest row by): the request columns stay unread
_RESULT_COLUMNS = ["cache_key", "text", "choice_logprobs", "token_logprobs", "tokens_in", "tokens_out", "latency_ms", "created_at"]


@dataclass(frozen=True)
class TeacherCall:
    """A request plus everything its cache key is made of."""

    key: str
    request: GenerationRequest
    strategy: str
    strategy_version: str


class TeacherCache:
    """Look up and append cached teacher results under <warehouse>/_cache/teacher/."""

    def __init__(self, root: Location | str | Path):
        root = warehouse_location(root)
        self.dir = root / "_cache" / "teacher"
        self.layout = CacheLayout(self.dir, state_dir(root) / "_cache" / "teacher")

    def fold(self) -> bool:
        """Move the spool (and a cache of the flat layout before partitions) into partitions; False if another process is."""
        return self.layout.fold()

    def shards(self) -> list[Location]:
        """Every shard file of the cache; an append names all of its files alike (`<batch>.parquet`)."""
        return self.layout.shards()

    def _files(self, parts: list[str]) -> list[Location]:
        """The files that can hold keys of these partitions: theirs, and flat files not yet folded."""
        return self.layout.flat_shards() + [f for part in parts for f in self.layout.partition_shards(part)]

    def _hits(self, wanted: list[str]) -> pl.DataFrame | None:
        """The cached rows of the wanted keys, oldest per key; None while no file can hold any of them."""
        files = self._files(sorted({partition_of(k) for k in wanted}))
        if not files:
            return None
        # a semi join, not is_in: it reads the key column once and stays fast for 10k keys and more
        keys = pl.LazyFrame({"cache_key": wanted}, schema={"cache_key": pl.String})
        rows = scan_shards(files).select(_RESULT_COLUMNS).join(keys, on="cache_key", how="semi")
        return first_per_key(rows).collect()

    def lookup(self, keys: list[str]) -> dict[str, GenerationResult]:
        """Cached results for the keys that have one."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        self.fold()  # a spool left by a crashed or concurrent run is read as ~100k-row files, not thousands of batches
        # a shard compacted or folded away between listing and reading: list again, three tries 50 then 100 ms apart
        retrying = Retrying(retry=retry_if_exception(missing_file), stop=stop_after_attempt(3),
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
        """Persist the successful results of one batch as one spool file; returns how many were stored."""
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
            self.layout.spool(pl.DataFrame(rows, schema=SCHEMA), f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}")
        return len(rows)

    def compact(self, min_shards: int = COMPACT_SHARDS) -> None:
        """Fold the spool, then merge the shards of every partition that has `min_shards` of them, one partition at a time.

        Safe beside concurrent appends and compactions (a lock per partition); memory stays
        bounded by one fold or one partition. Nothing is merged while another process is folding,
        so a compaction never merges the files of a fold that may still be rewritten.
        """
        if not self.fold():
            return
        for part in self.layout.partitions():
            self.layout.compact_partition(part, min_shards)
