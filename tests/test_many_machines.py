"""Many machines, simulated on one: a Dagster instance on a real Postgres (deploy/dagster-postgres.yaml), a
warehouse on an S3-compatible server, shards run in parallel processes, and a second "machine" with no local
state that sees every table fresh and pays for nothing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance

from postgres_server import postgres  # noqa: F401 (fixture)
from s3_server import s3_env, s3_keys, s3_prefix, s3_server  # noqa: F401 (fixtures)
from spec_helpers import write_spec
from synth_assets.inference.cache import TeacherCache
from synth_assets.storage.location import warehouse_location
from test_cli_refusals import synth

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))
from openai_server import Fleet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fleet():
    f = Fleet(n=2, delay_s=0.3)
    yield f
    f.close()


def test_shards_on_two_machines_share_a_postgres_instance_and_one_bucket(
        tmp_path: Path, s3_env: dict[str, str], postgres, fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_pg"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for key, value in postgres.env().items():
        monkeypatch.setenv(key, value)
    url = s3_prefix()
    spec = write_spec(tmp_path, shards=2, teacher={"backend": "openai", "model": "m", "base_urls": fleet.urls,
                                                   "batch_size": 4, "concurrency": 4, "timeout_s": 30})

    # machine A: both shards in parallel processes, every table into the bucket, every run into Postgres
    done = synth("run", "--spec", str(spec), "--warehouse", url, "--workers", "2", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    shard_runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition")]
    assert sorted(r.tags["dagster/partition"] for r in shard_runs) == ["000", "001"]
    assert fleet.max_in_flight > 4  # two shard processes at the teacher at once (4 is one process's bound)
    keys = s3_keys(url)
    assert [k for k in keys if k.startswith("tiny/expansions/")] == ["tiny/expansions/000.parquet", "tiny/expansions/001.parquet"]
    paid = len(fleet.records)
    cached = pl.read_parquet([str(f) for f in TeacherCache(warehouse_location(url)).shards()])
    assert cached["cache_key"].is_unique().all() and cached.height == paid

    # machine B: its own (empty) state folder, the same instance and bucket. Everything is fresh; nothing is paid
    machine_b = dict(s3_env, SYNTH_STATE_DIR=str(tmp_path / "machine_b"))
    status = synth("status", "--spec", str(spec), "--warehouse", url, cwd=tmp_path, env=machine_b)
    assert status.returncode == 0, status.stderr[-3000:]
    assert "\n0 of 9 assets need a run (synth run --stale)\n" in status.stdout, status.stdout
    again = synth("run", "--stale", "--spec", str(spec), "--warehouse", url, cwd=tmp_path, env=machine_b, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert len(fleet.records) == paid
