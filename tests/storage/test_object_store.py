"""A warehouse on an S3-compatible server: `synth` end to end, a kill and rerun, shards in parallel, hand edits.

Every test drives `synth` as a subprocess with `--warehouse s3://…` against moto in server mode on
loopback, and an HTTP teacher on loopback that records each call it answers. The bucket is read
back with s3fs, polars and DuckDB, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from s3_server import BUCKET, SECRET_KEY, files_holding, s3_env, s3_keys, s3_prefix, s3_server  # noqa: F401 (fixtures)
from synth_assets.inference.cache import TeacherCache
from synth_assets.storage.location import warehouse_location
from test_cli_refusals import synth
from test_concurrent_runs import _spec  # the tiny spec on a loopback HTTP teacher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from openai_server import Fleet  # noqa: E402

TABLES = ["seeds", "eval_set", "expansions", "filtered", "train_set", "student_checkpoint", "eval_predictions", "eval_scores"]


@pytest.fixture
def fleet():
    f = Fleet(n=1, delay_s=0.05)
    yield f
    f.close()


def _run(tmp_path: Path, spec: Path, url: str, *extra: str, timeout: float = 300) -> str:
    done = synth("run", "--spec", str(spec), "--warehouse", url, *extra, cwd=tmp_path, timeout=timeout)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


def _read(url: str, table: str) -> pl.DataFrame:
    return pl.read_parquet(f"{url}/tiny/{table}.parquet")


def _expected_calls(url: str) -> int:
    return _read(url, "expansions").height + _read(url, "eval_set").height


def _cache(url: str) -> pl.DataFrame:
    return pl.read_parquet([str(f) for f in TeacherCache(warehouse_location(url)).shards()])


def _trained(url_runs: int) -> list[int]:
    records = DagsterInstance.get().fetch_materializations(AssetKey(["tiny", "student_checkpoint"]), limit=url_runs).records
    return [r.asset_materialization.metadata["trained"].value for r in records]


def test_a_pipeline_runs_end_to_end_on_s3_and_a_second_machine_reuses_every_call(
        tmp_path: Path, s3_env: dict[str, str], fleet: Fleet, dagster_home: Path) -> None:
    url, spec = s3_prefix(), _spec(tmp_path, fleet)
    out = _run(tmp_path, spec, url)
    assert "\nsucceeded: " in out

    # every table, the teacher cache and both checkpoints are objects in the bucket; nothing was written locally
    keys = s3_keys(url)
    assert {f"tiny/{t}.parquet" for t in TABLES} <= set(keys)
    assert any(k.startswith("_cache/teacher/p=") for k in keys) and not any(k.endswith(".tmp") for k in keys)
    manifests = [k for k in keys if k.startswith("_checkpoints/") and k.endswith("/manifest.json")]
    assert len(manifests) == 2
    assert not (tmp_path / "warehouse").exists()
    paid = len(fleet.records)
    assert paid == _expected_calls(url) == _cache(url).height

    # SQL over the objects: the catalog's views read s3:// through DuckDB's httpfs, with the lineage view
    train = _read(url, "train_set")
    query = synth("query", "--warehouse", url, "select 'rows=' || count(*) as n from tiny.lineage", cwd=tmp_path)
    assert query.returncode == 0, query.stderr
    assert f"rows={train.height} " in query.stdout
    refused = synth("query", "--warehouse", url, f"select * from read_parquet('s3://{BUCKET}/elsewhere/*.parquet')",
                    cwd=tmp_path)
    assert refused.returncode != 0 and f"synth query reads only files under {url}" in refused.stderr

    # the credentials were written nowhere: not in the catalog file or any local state, the Dagster home, the bucket
    assert not files_holding(tmp_path / "state", SECRET_KEY) and not files_holding(dagster_home, SECRET_KEY)
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    assert not [k for k in keys if SECRET_KEY.encode() in fs.cat_file(f"{url.removeprefix('s3://')}/{k}")]
    assert SECRET_KEY not in out

    # a second machine: no local state at all. Its run pays for nothing and trains nothing; eval downloads the students
    shutil.rmtree(tmp_path / "state")
    _run(tmp_path, spec, url)
    assert len(fleet.records) == paid
    assert _trained(2) == [0, 2]
    assert len(list((tmp_path / "state").rglob("_checkpoints/*/manifest.json"))) == 2


def test_a_table_edited_on_the_store_is_named_stale_and_restored(tmp_path: Path, s3_env: dict[str, str], fleet: Fleet) -> None:
    url, spec = s3_prefix(), _spec(tmp_path, fleet)
    _run(tmp_path, spec, url)
    train_url = f"{url}/tiny/train_set.parquet"
    import s3fs

    fs = s3fs.S3FileSystem(use_listings_cache=False)
    with fs.open(train_url, "wb") as fh:  # a user's edit, straight to the bucket
        _read(url, "train_set").head(3).write_parquet(fh)

    status = synth("status", "--spec", str(spec), "--warehouse", url, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert f"because tiny/train_set: file changed outside synth ({train_url})" in status.stdout
    out = _run(tmp_path, spec, url, "--stale")
    assert "materialising stale: tiny/train_set\n" in out
    assert _read(url, "train_set").height > 3
    again = synth("status", "--spec", str(spec), "--warehouse", url, cwd=tmp_path)
    assert "\n0 of 9 assets need a run (synth run --stale)\n" in again.stdout


def test_a_run_killed_mid_teacher_on_s3_is_resumed_paying_only_for_lost_calls(
        tmp_path: Path, s3_env: dict[str, str], fleet: Fleet) -> None:
    fleet.delay_s = 0.3
    url, spec = s3_prefix(), _spec(tmp_path, fleet)
    victim = subprocess.Popen([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec), "--warehouse", url],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = TeacherCache(warehouse_location(url))
    deadline = time.time() + 120
    while len(cache.layout.flat_shards()) < 2:  # two persisted batches in the spool: mid teacher step
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no batch reached the bucket"
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()

    persisted, paid_before = _cache(url).height, len(fleet.records)
    assert 0 < persisted <= paid_before
    assert "tiny/expansions.parquet" not in s3_keys(url)  # no half table: the step never published one
    fleet.delay_s = 0.02
    _run(tmp_path, spec, url)
    assert len(fleet.records) - paid_before == _expected_calls(url) - persisted
    cached = _cache(url)
    assert cached["cache_key"].is_unique().all() and cached.height == _expected_calls(url)
    assert _read(url, "expansions")["cache_hit"].sum() == persisted


def test_two_shards_in_parallel_processes_share_one_bucket(tmp_path: Path, s3_env: dict[str, str], fleet: Fleet) -> None:
    fleet.delay_s = 0.5
    url, spec = s3_prefix(), _spec(tmp_path, fleet, shards=2)
    _run(tmp_path, spec, url, "--workers", "2", timeout=300)
    keys = s3_keys(url)
    assert [k for k in keys if k.startswith("tiny/expansions/")] == ["tiny/expansions/000.parquet", "tiny/expansions/001.parquet"]
    assert fleet.max_in_flight > 4  # both shard processes talked to the teacher at once (4 is one process's bound)
    merged = pl.read_parquet(f"{url}/tiny/expansions/*.parquet")
    assert merged["row_id"].is_unique().all()
    cached = _cache(url)
    assert cached["cache_key"].is_unique().all() and cached.height == len(fleet.records) == merged.height + _read(url, "eval_set").height


def test_two_machines_running_one_pipeline_at_once_pay_every_call_once(
        tmp_path: Path, s3_env: dict[str, str], fleet: Fleet) -> None:
    """Each "machine" has its own state folder, so only the leases in the bucket keep them from paying twice."""
    fleet.delay_s = 0.3
    url, spec = s3_prefix(), _spec(tmp_path, fleet)
    machines = [dict(os.environ, SYNTH_STATE_DIR=str(tmp_path / f"machine{i}")) for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec), "--warehouse", url],
                              cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for env in machines]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][-3000:] + outs[1][-3000:]
    bodies = [json.dumps(r.body, sort_keys=True) for r in fleet.records if r.status == 200]
    assert len(bodies) == len(set(bodies)) == _expected_calls(url)  # no call reached the teacher twice
    waited = [out for out in outs if "waiting for tiny/" in out]
    assert waited and all("held by run " in out for out in waited)
    assert not [k for k in s3_keys(url) if k.startswith("_leases/")]  # every lease released
