"""label with pool_rows: a stable sample of the unlabelled pool, the same whether or not the seeds are sharded."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from spec_helpers import write_spec
from synth_assets.assets.expansions import in_shard
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.inference.fake_backend import FakeBackend
from synth_assets.spec import load_spec
from synth_assets.strategies.expand import expand, pool_sample

SEEDS = pl.DataFrame({
    "seed_id": [f"{i:02x}{'ab' * 7}" for i in range(0, 200, 10)],
    "input": [f"review number {i} about some snack" for i in range(20)],
    "target": ["great", "other"] * 3 + [None] * 14,
})


def test_pool_rows_labels_every_labelled_seed_and_a_stable_pool_sample(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "label", "pool_rows": 4}]))
    df, _ = expand(spec, SEEDS, TeacherSession(FakeBackend(), TeacherCache(tmp_path / "w"), 8, teacher_budget(spec)))
    labelled = set(SEEDS.filter(pl.col("target").is_not_null())["seed_id"])
    pool = sorted(SEEDS.filter(pl.col("target").is_null())["seed_id"])
    assert set(df["seed_id"]) == labelled | set(pool[:4])
    assert pool_sample(SEEDS.reverse(), 4) == frozenset(pool[:4])  # row order does not matter
    assert pool_sample(SEEDS, None) is None

    # sharded: each shard labels its part of the same sample
    sample = pool_sample(SEEDS, 4)
    teacher = TeacherSession(FakeBackend(), TeacherCache(tmp_path / "w"), 8, teacher_budget(spec))
    shards = [expand(spec, SEEDS.filter(in_shard(pl.col("seed_id"), k, 3)), teacher, pool=sample)[0] for k in range(3)]
    assert sorted(pl.concat(shards)["seed_id"]) == sorted(df["seed_id"])
