"""The teacher cache's fold and compaction locks on S3 (moto server on loopback) are lease objects in the bucket:
two machines (each with a state folder of its own) sharing one cache take turns, as two processes of one machine do."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from s3_server import s3_env, s3_prefix, s3_server  # noqa: F401 (fixtures)
from synth_assets.inference.base import GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.cache_layout import COMPACT_LOCK, FOLD_LOCK
from synth_assets.storage.location import warehouse_location

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from cache_calls import calls_in  # noqa: E402


def _machine(tmp_path: Path, monkeypatch, url: str, name: str) -> TeacherCache:
    monkeypatch.setenv("SYNTH_STATE_DIR", str(tmp_path / name))
    return TeacherCache(warehouse_location(url))


def test_a_machine_neither_folds_nor_compacts_while_another_holds_the_job(tmp_path: Path, s3_env, monkeypatch) -> None:
    url = s3_prefix()
    a = _machine(tmp_path, monkeypatch, url, "machine_a")
    b = _machine(tmp_path, monkeypatch, url, "machine_b")
    assert a.layout.locks != b.layout.locks  # no local lock file is shared: only the bucket is
    calls = calls_in("7a", 4)
    for c in calls:  # one shard per fold in p=7a
        a.append("m", [c], [GenerationResult(text=c.key[:6])])
        assert a.fold()
    assert len(a.layout.partition_shards("7a")) == 4

    compacting = b.layout._lock("p=7a", COMPACT_LOCK)
    compacting.acquire(timeout=0)  # machine b is compacting p=7a
    try:
        a.compact(min_shards=3)
        assert len(a.layout.partition_shards("7a")) == 4  # a left the partition to b
    finally:
        compacting.release()
    a.compact(min_shards=3)
    assert len(a.layout.partition_shards("7a")) == 1

    extra = calls_in("7a", 5)[4]
    b.append("m", [extra], [GenerationResult(text="late")])
    folding = b.layout._lock(FOLD_LOCK)
    folding.acquire(timeout=0)  # machine b is folding the spool
    try:
        assert a.fold() is False and len(a.layout.flat_shards()) == 1
    finally:
        folding.release()
    assert a.fold() and not a.layout.flat_shards()
    stored = pl.read_parquet([str(f) for f in a.shards()], columns=["cache_key"])  # s3 URLs read with the env's keys
    assert stored.height == 5 and stored["cache_key"].is_unique().all()
    assert {k: r.text for k, r in b.lookup([c.key for c in calls + [extra]]).items()} == \
        {**{c.key: c.key[:6] for c in calls}, extra.key: "late"}
