"""Step leases as objects in an S3 bucket (moto server on loopback): one holder across machines, kept by a
heartbeat, broken only once the heartbeat stops or, on the holder's own host, once its process is gone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from s3_server import s3_env, s3_prefix, s3_server  # noqa: F401 (fixtures)
from synth_assets.storage.location import warehouse_location
from synth_assets.storage.object_lease import ObjectLease


def _record(run: str, host: str | None = None, pid: int | None = None) -> dict:
    import os

    return {"run_id": run, "pid": pid or os.getpid(), "host": host or socket.gethostname(), "since": "now"}


@pytest.fixture
def lease_path(s3_env):
    return warehouse_location(s3_prefix()) / "_leases" / "tiny" / "expansions.lock"


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_one_holder_at_a_time_and_the_waiter_reads_who(lease_path) -> None:
    first, second = ObjectLease(lease_path, _record("run-a")), ObjectLease(lease_path, _record("run-b"))
    assert first.try_acquire()
    try:
        assert not second.try_acquire()
        record, _ = second.holder()
        assert record["run_id"] == "run-a" and record["host"] == socket.gethostname()
    finally:
        first.release()
    assert second.holder() is None
    assert second.try_acquire()
    second.release()


def test_a_live_holder_keeps_its_lease_past_the_stale_time(lease_path) -> None:
    holder = ObjectLease(lease_path, _record("run-a", host="machine-a"), beat_s=0.2, stale_s=1.0)
    waiter = ObjectLease(lease_path, _record("run-b"), beat_s=0.2, stale_s=1.0)
    assert holder.try_acquire()
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # 2.5 s of tries: the heartbeat changes the ETag every 0.2 s
            assert not waiter.try_acquire()
            time.sleep(0.1)
    finally:
        holder.release()


def test_a_holder_on_another_machine_that_stopped_beating_is_taken_over_after_the_stale_time(lease_path) -> None:
    gone = ObjectLease(lease_path, _record("run-lost", host="machine-lost"), beat_s=3600, stale_s=1.0)
    assert gone.try_acquire()  # its heartbeat never comes: the machine was lost
    waiter = ObjectLease(lease_path, _record("run-b"), beat_s=0.2, stale_s=1.0)
    started = time.monotonic()
    assert not waiter.try_acquire()
    waiter.acquire(timeout=10, poll_s=0.1)
    waited = time.monotonic() - started
    try:
        assert 1.0 <= waited < 5
        assert waiter.holder()[0]["run_id"] == "run-b"
    finally:
        waiter.release()
        gone._stop.set()


def test_a_dead_process_on_this_host_frees_its_lease_at_once(lease_path) -> None:
    dead = ObjectLease(lease_path, _record("run-killed", pid=_dead_pid()), beat_s=3600, stale_s=3600)
    assert dead.try_acquire()
    dead._stop.set()
    waiter = ObjectLease(lease_path, _record("run-b"), stale_s=3600)
    assert waiter.try_acquire()  # no waiting for a stale time: the holder's pid is gone on this host
    assert waiter.holder()[0]["run_id"] == "run-b"
    waiter.release()


def test_of_two_machines_breaking_a_stale_lease_at_once_only_one_wins(lease_path) -> None:
    gone = ObjectLease(lease_path, _record("run-lost", host="machine-lost"), beat_s=3600, stale_s=0.5)
    assert gone.try_acquire()
    gone._stop.set()
    breakers = [ObjectLease(lease_path, _record(f"run-{i}", host=f"machine-{i}"), beat_s=3600, stale_s=0.5) for i in range(4)]
    for b in breakers:
        assert not b.try_acquire()  # each starts its own stale clock
    time.sleep(0.7)
    barrier, won = threading.Barrier(len(breakers)), []

    def attempt(b: ObjectLease) -> None:
        barrier.wait()
        if b.try_acquire():
            won.append(b)

    threads = [threading.Thread(target=attempt, args=(b,)) for b in breakers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert json.loads(json.dumps(won[0].holder()[0]))["run_id"] == won[0].record["run_id"]
    for b in breakers:
        b._stop.set()
