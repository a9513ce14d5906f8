"""The teacher cache stores successes only, finds them by key, and survives compaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.inference.cache import SCHEMA, TeacherCache
from synth_assets.inference.fake_backend import FakeBackend
from synth_assets.inference.runner import run_calls
from synth_assets.storage.catalog import refresh_catalog

from cache_calls import call, calls_in


def test_key_changes_with_everything_that_changes_output() -> None:
    base = call("hello").key
    assert call("hello").key == base
    assert call("hello!").key != base
    assert call("hello", temperature=0.5).key != base
    assert call("hello", model="other").key != base
    req = GenerationRequest(messages=(("user", "hello"),))
    assert req.cache_key("m", "s", "2") != base and req.cache_key("m", "t", "1") != base


def test_key_without_top_logprobs_is_unchanged_by_the_option() -> None:
    """Caches written before top_logprobs existed must still hit: the option only enters keys when on."""
    params = SamplingParams()
    assert "top_logprobs" not in params.as_dict()
    assert SamplingParams(top_logprobs=5).as_dict()["top_logprobs"] == 5
    req = GenerationRequest(messages=(("user", "hello"),))
    assert req.cache_key("m", "s", "1") == "71931068ecf259e86557e3b689ff66db"  # the key before the option existed
    with_top = GenerationRequest(messages=(("user", "hello"),), params=SamplingParams(top_logprobs=5))
    assert with_top.cache_key("m", "s", "1") != req.cache_key("m", "s", "1")


def test_token_logprobs_round_trip_and_old_shards_still_read(tmp_path: Path) -> None:
    import polars as pl

    cache = TeacherCache(tmp_path)
    old, new = calls_in("a7", 2)
    # a flat shard from before the token_logprobs column (and the partitions) existed
    cache.dir.mkdir(parents=True)
    legacy = {k: v for k, v in SCHEMA.items() if k != "token_logprobs"}
    pl.DataFrame([{"cache_key": old.key, "text": "O", "tokens_in": 1, "tokens_out": 1, "latency_ms": 1.0}],
                 schema=legacy).write_parquet(cache.dir / "0-legacy.parquet")
    top = [["N", -0.1, [["N", -0.1], ["M", -2.5]]]]
    cache.append("m", [new], [GenerationResult(text="N", token_logprobs=top, tokens_out=1)])
    hits = cache.lookup([old.key, new.key])
    assert hits[old.key].text == "O" and hits[old.key].token_logprobs is None
    assert hits[new.key].token_logprobs == top
    cache.compact(min_shards=2)
    assert [p.parent.name for p in cache.shards()] == ["p=a7"]
    assert cache.lookup([new.key])[new.key].token_logprobs == top


def test_only_successes_are_cached(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls = [call("a"), call("b")]
    stored = cache.append("m", calls, [GenerationResult(text="A", tokens_out=1), GenerationResult(text=None, error="boom")])
    assert stored == 1
    hits = cache.lookup([c.key for c in calls])
    assert set(hits) == {calls[0].key} and hits[calls[0].key].text == "A"


def test_runner_dedupes_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    backend = FakeBackend(call_log=str(log), fail_marker="bad")
    cache = TeacherCache(tmp_path)
    calls = [call(f"row {i}") for i in range(10)] + [call("row 0"), call("bad row")]
    out, stats = run_calls(calls, backend, cache, batch_size=3)
    assert stats.unique == 11 and stats.calls == 11 and stats.errors == 1
    assert len(log.read_text().splitlines()) == 11
    out2, stats2 = run_calls(calls, backend, cache, batch_size=3)
    # everything but the failed call comes from the cache; the failure is retried
    assert stats2.cache_hits == 10 and stats2.calls == 1
    assert all(out2[c.key][0].text == out[c.key][0].text for c in calls[:10])


def test_compaction_keeps_every_row_and_the_view(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls = calls_in("3c", 6)
    for c in calls:
        cache.append("m", [c], [GenerationResult(text=c.key[:4])])
    cache.compact(min_shards=3)
    assert len(cache.shards()) == 1
    assert {k: r.text for k, r in cache.lookup([c.key for c in calls]).items()} == {c.key: c.key[:4] for c in calls}
    assert refresh_catalog(tmp_path)
    with duckdb.connect(str(tmp_path / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from teacher_cache").fetchone()[0] == 6
        assert con.execute("select count(*) from teacher_cache where cache_key like '3c%'").fetchone()[0] == 6


class _StaleListing(TeacherCache):
    """Lists the shards as they were before a compaction removed them, `stale` times: the race lookup survives."""

    def __init__(self, root: Path, before: list[Path], stale: int) -> None:
        super().__init__(root)
        self.before, self.stale, self.listings = before, stale, 0

    def _files(self, parts: list[str]) -> list[Path]:
        self.listings += 1
        return self.before if self.listings <= self.stale else super()._files(parts)


def test_a_shard_compacted_away_mid_lookup_is_listed_again_twice_at_most(tmp_path: Path) -> None:
    cache = TeacherCache(tmp_path)
    calls = calls_in("5e", 3)
    for c in calls:
        cache.append("m", [c], [GenerationResult(text=c.key[:4])])
    before = cache.shards()
    cache.compact(min_shards=2)
    keys = [c.key for c in calls]
    racing = _StaleListing(tmp_path, before, stale=2)
    assert {k: r.text for k, r in racing.lookup(keys).items()} == {c.key: c.key[:4] for c in calls}
    assert racing.listings == 3
    stuck = _StaleListing(tmp_path, before, stale=3)
    with pytest.raises(RuntimeError, match="kept changing while being read"):
        stuck.lookup(keys)
    assert stuck.listings == 3


def test_concurrent_compactions_never_store_a_key_twice(tmp_path: Path) -> None:
    """Processes finishing their steps together all compact; the merged cache still holds each key once."""
    import threading

    import polars as pl

    cache = TeacherCache(tmp_path)
    stored: list[str] = []
    for wave in range(4):
        for i in range(30):  # one shard per batch, as the runner writes them
            one = call(f"wave {wave} row {i}")
            cache.append("m", [one], [GenerationResult(text=f"{wave}/{i}")])
            stored.append(one.key)
        start = threading.Barrier(4)

        def compact() -> None:
            start.wait()
            cache.compact(min_shards=2)

        workers = [threading.Thread(target=compact) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rows = pl.read_parquet(cache.shards())
        assert rows["cache_key"].is_unique().all(), f"wave {wave}: {rows.height} rows for {rows['cache_key'].n_unique()} keys"
        assert sorted(rows["cache_key"]) == sorted(stored)
    assert {k: r.text for k, r in cache.lookup(stored[:3]).items()} == {k: f"0/{i}" for i, k in enumerate(stored[:3])}
