"""The teacher cache's partitioned layout: an append is one spool file, folded into the partitions before a
lookup and at compaction; lookups open only their keys' partitions, compaction works one partition at a time,
and a cache of the flat layout before partitions is upgraded on first use with no call lost."""

from __future__ import annotations

import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl
import pytest
from filelock import FileLock

from synth_assets.inference.base import GenerationResult
from synth_assets.inference.cache import SCHEMA, TeacherCache, TeacherCall
from synth_assets.inference.cache_layout import FOLD_LOCK, CacheLayout, conform, partition_of
from synth_assets.storage.catalog import refresh_catalog

from cache_calls import call, calls_in


def _flat_shard(folder: Path, name: str, calls: list[TeacherCall], texts: list[str], at: datetime,
                drop: tuple[str, ...] = ()) -> None:
    """A shard as the flat layout wrote it: directly in _cache/teacher/, one per batch, in any key order."""
    schema = {k: v for k, v in SCHEMA.items() if k not in drop}
    rows = [{"cache_key": c.key, "model_id": "m", "strategy": "s", "strategy_version": "1", "text": t, "tokens_in": 1,
             "tokens_out": 1, "latency_ms": 1.0, "created_at": at} for c, t in zip(calls, texts)]
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=schema).write_parquet(folder / f"{name}.parquet")


def _answers(cache: TeacherCache, calls: list[TeacherCall]) -> dict[str, str | None]:
    return {k: r.text for k, r in cache.lookup([c.key for c in calls]).items()}


def _stored(cache: TeacherCache) -> pl.DataFrame:
    return pl.read_parquet(cache.shards(), columns=["cache_key", "text"])


def _old_cache(folder: Path) -> tuple[list[TeacherCall], dict[str, str]]:
    """Three flat shards: a compacted one from before token_logprobs existed, and two batches."""
    calls = [call(f"old {i}") for i in range(120)]
    then = datetime(2024, 5, 1, tzinfo=timezone.utc)
    _flat_shard(folder, "20240501T000000000000-compacted-0a0a0a0a", calls[:80], [f"c{i}" for i in range(80)], then,
                drop=("token_logprobs",))
    _flat_shard(folder, "20240502T000000000000-1b1b1b1b", calls[80:100], [f"b{i}" for i in range(20)], then + timedelta(days=1))
    _flat_shard(folder, "20240503T000000000000-2c2c2c2c", calls[100:], [f"d{i}" for i in range(20)], then + timedelta(days=2))
    expected = {c.key: t for c, t in zip(calls, [f"c{i}" for i in range(80)] + [f"b{i}" for i in range(20)] + [f"d{i}" for i in range(20)])}
    return calls, expected


def test_an_append_is_one_spool_file_that_a_fold_turns_into_one_sorted_file_per_partition(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls = [call(f"row {i}") for i in range(40)] + calls_in("e4", 5)
    cache.append("m", calls[:20], [GenerationResult(text=c.key) for c in calls[:20]])
    cache.append("m", calls[20:], [GenerationResult(text=c.key) for c in calls[20:]])
    assert [f.parent for f in cache.shards()] == [cache.dir, cache.dir]  # two batches: two files, whatever their keys
    assert _answers(cache, calls) == {c.key: c.key for c in calls}  # a lookup folds them first
    files = cache.shards()
    assert {f.parent.name for f in files} == {f"p={partition_of(c.key)}" for c in calls}
    assert len({f.name for f in files}) == 1  # one fold: every file of it carries the fold's name
    for f in files:
        keys = pl.read_parquet(f)["cache_key"]
        assert keys.is_sorted() and all(k.startswith(f.parent.name[2:]) for k in keys)
    assert pl.read_parquet(files).height == 45


def test_a_flat_cache_is_upgraded_on_first_use_and_every_key_still_hits(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls, expected = _old_cache(cache.dir)
    assert refresh_catalog(tmp_path)  # the view reads the flat layout too, before any upgrade
    with duckdb.connect(str(tmp_path / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from teacher_cache").fetchone()[0] == 120

    assert _answers(cache, calls) == expected
    assert not list(cache.dir.glob("*.parquet")) and all(f.parent.name.startswith("p=") for f in cache.shards())
    stored = _stored(cache)
    assert stored.height == 120 and stored["cache_key"].is_unique().all()
    assert _answers(TeacherCache(tmp_path), calls) == expected
    assert refresh_catalog(tmp_path)
    with duckdb.connect(str(tmp_path / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), count(distinct cache_key) from teacher_cache").fetchone() == (120, 120)
        assert "p" not in {r[0] for r in con.execute("describe teacher_cache").fetchall()}


def test_a_fold_killed_midway_loses_no_call_and_answers_each_key_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("synth_assets.inference.cache_layout.FOLD_ROWS", 70)  # two folds: the large shard alone, then two batches
    cache = TeacherCache(tmp_path)
    calls, expected = _old_cache(cache.dir)
    first, second, third = sorted(cache.dir.glob("*.parquet"))
    # killed after folding the first shard but before removing it
    keep = tmp_path / "copy.parquet"
    shutil.copy(first, keep)
    cache.layout._fold_group([first])
    shutil.move(keep, first)
    # and halfway through writing the second fold: only some of its partitions written
    rows = pl.concat([pl.read_parquet(second), pl.read_parquet(third)]).with_columns(pl.col("cache_key").str.slice(0, 2).alias("part"))
    written = sorted(set(rows["part"]))[::2]
    cache.layout.write(rows.filter(pl.col("part").is_in(written)).drop("part").pipe(conform), f"{second.stem}-f00002")

    racing = TeacherCache(tmp_path)
    with FileLock(cache.dir / FOLD_LOCK):  # another process is (still) folding: readers see both layouts
        assert _answers(racing, calls) == expected
        assert len(list(cache.dir.glob("*.parquet"))) == 3
    rerun = TeacherCache(tmp_path)
    assert _answers(rerun, calls) == expected
    assert not list(cache.dir.glob("*.parquet"))
    stored = _stored(rerun)  # the rerun replaced what the killed one wrote: no key twice, not even on disk
    assert stored.height == 120 and stored["cache_key"].is_unique().all()


def test_two_machines_folding_one_spool_at_once_lose_nothing_and_raise_nothing(tmp_path: Path, monkeypatch) -> None:
    """On a bucket shared by machines the fold lock is per machine: two folds may race over the same spool files."""
    monkeypatch.setattr("synth_assets.inference.cache_layout.FOLD_ROWS", 60)  # many groups, so the folds interleave
    calls = [call(f"spooled {i}") for i in range(600)]
    writer = TeacherCache(tmp_path)
    for start in range(0, 600, 20):
        writer.append("m", calls[start:start + 20], [GenerationResult(text=f"t{start + i}") for i in range(20)])
    assert len(writer.layout.flat_shards()) == 30
    machines = [CacheLayout(writer.dir, tmp_path / f"machine{i}" / "locks") for i in range(2)]  # a lock folder each
    errors: list[BaseException] = []

    def fold(layout: CacheLayout) -> None:
        try:
            assert layout.fold()
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=fold, args=(m,)) for m in machines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not writer.layout.flat_shards()
    expected = {c.key: f"t{i}" for i, c in enumerate(calls)}
    assert _answers(TeacherCache(tmp_path), calls) == expected  # every key a hit, with its own answer
    TeacherCache(tmp_path).compact(min_shards=2)
    stored = _stored(TeacherCache(tmp_path))
    assert stored["cache_key"].is_unique().all() and stored.height == 600  # a key stored twice by the race is merged away


def test_a_lookup_opens_only_the_partitions_of_its_keys(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    mine, other = calls_in("1f", 3), calls_in("c0", 3)
    for c in mine + other:
        cache.append("m", [c], [GenerationResult(text=c.key[:6])])
    assert cache.fold()
    for f in cache.layout.partition_shards("c0"):  # what a lookup of partition 1f must never open
        f.write_bytes(b"not parquet")
    assert _answers(cache, mine) == {c.key: c.key[:6] for c in mine}
    assert _answers(cache, calls_in("1f", 1, tag="miss")) == {}
    with pytest.raises(Exception):  # the same lookup plus one key of the damaged partition does read it
        cache.lookup([c.key for c in mine] + [other[0].key])


def test_compaction_merges_a_partition_alone_and_leaves_the_others_untouched(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    busy, quiet = calls_in("7a", 4), calls_in("90", 2)
    for c in busy + quiet:  # folded one by one: a shard per batch in its partition
        cache.append("m", [c], [GenerationResult(text=c.key[:6])])
        cache.fold()
    # a key stored twice (two runs raced past their leases): the older answer is the one kept
    cache.append("m", [busy[0]], [GenerationResult(text="newer")])
    cache.fold()
    assert len(cache.layout.partition_shards("7a")) == 5 and len(cache.layout.partition_shards("90")) == 2
    untouched = {f: f.read_bytes() for f in cache.layout.partition_shards("90")}
    cache.compact(min_shards=3)
    assert len(cache.layout.partition_shards("7a")) == 1
    assert {f: f.read_bytes() for f in cache.layout.partition_shards("90")} == untouched
    stored = _stored(cache)
    assert stored.height == 6 and stored["cache_key"].is_unique().all()
    assert _answers(cache, busy + quiet) == {c.key: c.key[:6] for c in busy + quiet}


def test_a_large_base_is_rewritten_only_once_the_small_shards_add_up(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    base_calls = calls_in("42", 200, tag="base")
    cache.append("m", base_calls, [GenerationResult(text="x" * 200) for _ in base_calls])
    cache.fold()
    (base,) = cache.layout.partition_shards("42")
    fresh = calls_in("42", 3, tag="fresh")
    for c in fresh:
        cache.append("m", [c], [GenerationResult(text="f")])
        cache.fold()
    cache.compact(min_shards=3)
    shards = cache.layout.partition_shards("42")
    assert base in shards and len(shards) == 2  # the small ones merged into one, the base left as it was
    # a small shard repeating a key of the base is merged with the base: still one row per key
    cache.append("m", [base_calls[0]], [GenerationResult(text="again")])
    cache.compact(min_shards=3)
    stored = _stored(cache)
    assert len(cache.layout.partition_shards("42")) == 1 and stored.height == 203 and stored["cache_key"].is_unique().all()
    assert cache.lookup([base_calls[0].key])[base_calls[0].key].text == "x" * 200


def test_appends_during_compaction_are_kept_and_no_key_is_stored_twice(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls = calls_in("0b", 60, tag="race")
    for c in calls[:20]:
        cache.append("m", [c], [GenerationResult(text=c.key)])
    start, done = threading.Barrier(3), threading.Event()

    def append() -> None:
        start.wait()
        for c in calls[20:]:
            cache.append("m", [c], [GenerationResult(text=c.key)])
        done.set()

    def compact() -> None:
        start.wait()
        while not done.is_set():
            TeacherCache(tmp_path).compact(min_shards=2)

    workers = [threading.Thread(target=append), threading.Thread(target=compact), threading.Thread(target=compact)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cache.compact(min_shards=2)
    stored = _stored(cache)
    assert stored["cache_key"].is_unique().all() and sorted(stored["cache_key"]) == sorted(c.key for c in calls)
    assert _answers(cache, calls) == {c.key: c.key for c in calls}
