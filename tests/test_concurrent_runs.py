"""Two `synth run` of one spec on one warehouse never pay twice; a killed run is failed and frees its lease.

Every test drives `synth run` (or `synth status`) as subprocesses against a slow real HTTP teacher
on loopback, which records each call it answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from spec_helpers import write_spec
from synth_assets.inference.cache import TeacherCache
from test_cli_refusals import synth

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))
from openai_server import Fleet  # noqa: E402


@pytest.fixture
def fleet():
    f = Fleet(n=1, delay_s=0.5)
    yield f
    f.close()


def _spec(tmp_path: Path, fleet: Fleet, **overrides) -> Path:
    return write_spec(tmp_path, teacher={"backend": "openai", "model": "m", "base_urls": fleet.urls, "batch_size": 4,
                                         "concurrency": 4, "timeout_s": 30}, **overrides)


def _start(tmp_path: Path, spec: Path, *extra: str) -> subprocess.Popen:
    """`synth run` in its own process group, left running."""
    return subprocess.Popen([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec),
                             "--warehouse", str(tmp_path / "warehouse"), *extra], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


def _wait_for_calls(fleet: Fleet, proc: subprocess.Popen, n: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while len(fleet.records) < n:
        assert proc.poll() is None, "the run ended before it reached the teacher: " + _finish(proc)[-3000:]
        assert time.time() < deadline, "the run never reached the teacher"
        time.sleep(0.05)


def _expected_calls(warehouse: Path) -> int:
    tiny = warehouse / "tiny"
    return pl.read_parquet(tiny / "expansions.parquet").height + pl.read_parquet(tiny / "eval_set.parquet").height


def _cache(warehouse: Path) -> pl.DataFrame:
    return pl.read_parquet(TeacherCache(warehouse).shards())


def _paid_once(fleet: Fleet) -> bool:
    """No request body reached the server twice (samples of one prompt differ in their seed)."""
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in fleet.records if r.status == 200)
    return max(bodies.values()) == 1


def test_two_runs_started_together_pay_every_call_once(tmp_path: Path, fleet: Fleet) -> None:
    spec = _spec(tmp_path, fleet)
    first, second = _start(tmp_path, spec), _start(tmp_path, spec)
    outs = [_finish(first), _finish(second)]
    assert first.returncode == 0 and second.returncode == 0, outs[0][-3000:] + outs[1][-3000:]

    warehouse = tmp_path / "warehouse"
    expected = _expected_calls(warehouse)
    # the server saw each call exactly once; the run that waited found every one in the cache
    assert sum(fleet.completed.values()) == len(fleet.records) == expected and _paid_once(fleet)
    cache = _cache(warehouse)
    assert cache["cache_key"].is_unique().all() and cache.height == expected
    waited = [out for out in outs if "waiting for tiny/" in out]
    assert waited and all("held by run " in out and " on " + socket.gethostname() in out for out in waited)

    # both runs materialised the students; only one trained them, the other reused the checkpoints
    instance = DagsterInstance.get()
    records = instance.fetch_materializations(AssetKey(["tiny", "student_checkpoint"]), limit=10).records
    trained = sorted(r.asset_materialization.metadata["trained"].value for r in records)
    assert trained == [0, 2]
    assert len([p for p in (warehouse / "_checkpoints").iterdir() if not p.name.startswith(".")]) == 2


def test_if_busy_stop_fails_the_second_run_naming_the_holder(tmp_path: Path, fleet: Fleet) -> None:
    fleet.delay_s = 2.0  # the first run stays in its teacher step while the second one starts
    spec = _spec(tmp_path, fleet)
    first = _start(tmp_path, spec)
    _wait_for_calls(fleet, first, 1)
    second = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), "--if-busy", "stop",
                   cwd=tmp_path, timeout=120)
    fleet.delay_s = 0.05
    out = _finish(first)
    assert first.returncode == 0, out[-3000:]

    assert second.returncode == 1, second.stdout[-3000:]
    assert "step tiny__expansions failed: synth_assets.storage.lease.LeaseBusyError: tiny/expansions is being " \
           f"materialised by run " in second.stdout
    assert f"(pid {first.pid} on {socket.gethostname()}, since " in second.stdout
    assert "let that run finish, or run again with --if-busy wait" in second.stdout
    assert "\nFAILED:" in second.stdout
    # the run that stopped made no teacher call
    assert sum(fleet.completed.values()) == _expected_calls(tmp_path / "warehouse") and _paid_once(fleet)


@pytest.mark.parametrize("command", ["run", "status"])
def test_a_killed_run_is_marked_failed_and_its_lease_is_free(tmp_path: Path, fleet: Fleet, command: str) -> None:
    spec = _spec(tmp_path, fleet)
    warehouse = tmp_path / "warehouse"
    victim = _start(tmp_path, spec)
    cache = TeacherCache(warehouse)
    deadline = time.time() + 60
    while len({p.name for p in cache.shards()}) < 2:  # in the middle of the teacher step, two batches persisted
        assert victim.poll() is None and time.time() < deadline, _finish(victim)[-3000:]
        time.sleep(0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    victim.stdout.close()
    instance = DagsterInstance.get()
    stuck = instance.get_runs()[0]
    assert stuck.status == DagsterRunStatus.STARTED  # what a SIGKILL leaves in the instance

    persisted = _cache(warehouse).height
    paid_before = len(fleet.records)
    done = synth(command, "--spec", str(spec), "--warehouse", str(warehouse), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    line = (f"run {stuck.run_id} was still STARTED, but its process (pid {victim.pid} on {socket.gethostname()}) "
            "is gone: marked as failed")
    assert line in done.stdout
    failed = instance.get_run_by_id(stuck.run_id)
    assert failed.status == DagsterRunStatus.FAILURE
    assert any("is gone: marked as failed" in (e.message or "") for e in instance.all_logs(stuck.run_id))
    if command == "status":
        return
    # the dead holder's lease broke by itself: the rerun never waited, and paid only for the lost rows
    assert "waiting for" not in done.stdout + done.stderr
    assert len(fleet.records) - paid_before == _expected_calls(warehouse) - persisted
    cached = _cache(warehouse)
    assert cached["cache_key"].is_unique().all() and cached.height == _expected_calls(warehouse)
    # a second start finds nothing more to fail
    again = synth("status", "--spec", str(spec), "--warehouse", str(warehouse), cwd=tmp_path, timeout=120)
    assert again.returncode == 0 and "marked as failed" not in again.stdout


def test_shards_of_one_pipeline_still_run_in_parallel(tmp_path: Path, fleet: Fleet) -> None:
    fleet.delay_s = 1.0
    spec = _spec(tmp_path, fleet, shards=2)
    done = synth("run", "--spec", str(spec), "--warehouse", str(tmp_path / "warehouse"), "--workers", "2",
                 cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # one lease per shard, so both shard processes talked to the teacher at once (4 in flight is one process's bound)
    leases = tmp_path / "warehouse" / "_leases" / "tiny" / "expansions"
    assert sorted(p.name for p in leases.glob("*.lock")) == ["000.lock", "001.lock"]
    assert fleet.max_in_flight > 4
    assert "waiting for" not in done.stdout + done.stderr and _paid_once(fleet)
