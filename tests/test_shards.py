"""Seed shards as Dagster partitions of `expansions`, materialised in parallel processes on one instance."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
from dagster import DagsterInstance

from spec_helpers import write_spec
from pipeline_helpers import calls, run_pipeline, table
from synth_assets.inference.cache import TeacherCache
from synth_assets.spec import load_spec


def test_sharded_run_matches_unsharded_and_never_corrupts_the_cache(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    plain = load_spec(write_spec(tmp_path / "a"))
    assert run_pipeline(plain, tmp_path / "plain", instance=DagsterInstance.ephemeral()).success
    reference = table(tmp_path / "plain", plain, "expansions")

    spec = load_spec(write_spec(tmp_path / "b", shards=3))
    warehouse, log = tmp_path / "warehouse", tmp_path / "calls.log"
    instance = DagsterInstance.get()  # on disk (DAGSTER_HOME of the test): shared by the worker processes
    assert run_pipeline(spec, warehouse, call_log=log, instance=instance, workers=3, delay_s=0.3).success

    shard_files = sorted((warehouse / "tiny" / "expansions").glob("*.parquet"))
    assert [f.stem for f in shard_files] == ["000", "001", "002"]
    shards = [pl.read_parquet(f) for f in shard_files]
    assert all(s.height > 0 for s in shards)
    merged = pl.concat(shards)
    # every (seed, strategy, sample) exactly once, and the same rows as the unsharded pipeline
    assert merged["row_id"].is_unique().all()
    cols = ["row_id", "seed_id", "strategy", "sample_idx", "input", "target", "cache_key"]
    assert merged.select(cols).sort("row_id").equals(reference.select(cols).sort("row_id"))

    # one Dagster run per shard, each in a worker process
    runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition")]
    assert sorted(r.tags["dagster/partition"] for r in runs) == ["000", "001", "002"]
    pids = {e.dagster_event.pid for r in runs for e in instance.all_logs(r.run_id) if e.dagster_event and e.dagster_event.pid}
    assert pids and os.getpid() not in pids

    # the teacher cache: no call made twice, no key stored twice, every row readable
    cache = pl.read_parquet(TeacherCache(warehouse).shards())
    assert cache["cache_key"].is_unique().all()
    made = calls(log)
    assert made == cache.height

    # downstream reads every shard; the catalog view is the union
    filtered = table(warehouse, spec, "filtered")
    assert filtered.height == merged.height
    with duckdb.connect(str(warehouse / "synth.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from tiny.expansions").fetchone()[0] == merged.height

    # nothing changed: a stale-only rerun runs nothing and calls nothing
    outcome = run_pipeline(spec, warehouse, call_log=log, instance=instance, stale_only=True, workers=3)
    assert outcome.success and outcome.materialised == 0 and calls(log) == made
