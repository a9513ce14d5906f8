"""One lease per (pipeline, asset, partition) in the warehouse, held while the step runs.

Two runs of one step would pay the teacher twice and write the same table twice. With the lease
the second run waits for the first (or, told to stop, fails the step naming the holder); once it
has the lease, its teacher calls come from the row cache and its students from the checkpoint
cache, so the wait costs time, never calls.

The lease is an OS file lock (`filelock`: flock on POSIX), which the kernel drops when its holder
dies, SIGKILL included, so a dead holder's lease breaks by itself; on a file system without flock
filelock falls back to a marker file that it breaks once the recorded process is gone. A holder
file beside the lock names the run, process and host, for the message of whoever waits.

A warehouse on S3 holds its leases as objects in the bucket (`object_lease.py`: a conditional PUT
takes one, a heartbeat keeps it, a waiter breaks it once the heartbeat stops), so runs on every
machine that shares the bucket take turns. Other object stores keep them in the warehouse's
local state folder, ordering the runs of one machine.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from synth_assets.storage.location import Location, is_s3, state_dir, warehouse_location
from synth_assets.storage.object_lease import LeaseTimeout, ObjectLease
from synth_assets.storage.temp_files import temp_file

LEASE_DIR = "_leases"
IF_BUSY_ENV = "SYNTH_IF_BUSY"  # wait (default) | stop; `synth run --if-busy` sets it, `dagster dev` reads it too
IF_BUSY = ("wait", "stop")
POLL_S = 1.0
REMIND_S = 60.0  # a waiting step repeats who it waits for this often


class LeaseBusyError(RuntimeError):
    """Another run holds the step's lease and this run was told to stop rather than wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as its holder file records it."""

    run_id: str
    pid: int
    host: str
    since: str

    @classmethod
    def here(cls, run_id: str) -> Holder:
        """This process, holding from now on."""
        return cls(run_id=run_id, pid=os.getpid(), host=socket.gethostname(), since=_now())

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.since})"


def if_busy_policy() -> str:
    """What a step does when its lease is held: `wait` for it (default) or `stop` with a message."""
    value = os.environ.get(IF_BUSY_ENV, "").strip().lower() or "wait"
    if value not in IF_BUSY:
        raise ValueError(f"{IF_BUSY_ENV}={value!r}: expected one of {', '.join(IF_BUSY)}")
    return value


def _lease_name(asset_path: list[str], partition: str | None) -> str:
    """<pipeline>/<table>.lock, or <pipeline>/<table>/<partition>.lock for one partition: where a lease lives under _leases/."""
    if partition is None:
        return "/".join(asset_path) + ".lock"
    return "/".join([*asset_path, re.sub(r"[^\w.-]", "_", partition) + ".lock"])


def lease_path(root: Location | str, asset_path: list[str], partition: str | None) -> Path:
    """warehouse/_leases/<pipeline>/<table>.lock, or .../<table>/<partition>.lock for one partition."""
    return state_dir(warehouse_location(root)) / LEASE_DIR / _lease_name(asset_path, partition)


def _holder_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".holder.json")


def read_holder(lock: Path) -> Holder | None:
    """The holder file's record, or None when there is none (yet) or it cannot be read."""
    try:
        return Holder(**json.loads(_holder_path(lock).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_holder(lock: Path, holder: Holder) -> None:
    fd, tmp = temp_file(lock.parent, ".holder-")
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(holder), f)
    os.replace(tmp, _holder_path(lock))  # whole or absent: a waiter never reads half a record


def _who(lock: Path) -> str:
    holder = read_holder(lock)
    return holder.describe() if holder else "another process (it has not named itself yet)"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _FileLease:
    """The lease as an OS file lock plus a holder file beside it: one machine, or a shared folder."""

    def __init__(self, path: Path, holder: Holder):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.holder, self.lock = path, holder, FileLock(path)

    def acquire(self, timeout: float) -> bool:
        try:
            self.lock.acquire(timeout=timeout)
        except Timeout:
            return False
        _write_holder(self.path, replace(self.holder, since=_now()))
        return True

    def who(self) -> str:
        return _who(self.path)

    def release(self) -> None:
        _holder_path(self.path).unlink(missing_ok=True)  # while still held: never the next holder's record
        self.lock.release()


class _BucketLease:
    """The lease as an object in the warehouse's S3 bucket: one holder across machines."""

    def __init__(self, path: Location, holder: Holder):
        self.lease = ObjectLease(path, asdict(holder))

    def acquire(self, timeout: float) -> bool:
        self.lease.record["since"] = _now()
        try:
            self.lease.acquire(timeout)
        except LeaseTimeout:
            return False
        return True

    def who(self) -> str:
        held = self.lease.holder()
        fields = set(Holder.__dataclass_fields__)
        if held and fields <= set(held[0]):
            return Holder(**{k: held[0][k] for k in fields}).describe()
        return "another process (it has not named itself yet)"

    def release(self) -> None:
        self.lease.release()


def _lease(root: Location, asset_path: list[str], partition: str | None, holder: Holder) -> _FileLease | _BucketLease:
    if is_s3(root):
        return _BucketLease(root / LEASE_DIR / _lease_name(asset_path, partition), holder)
    return _FileLease(lease_path(root, asset_path, partition), holder)


@contextmanager
def step_lease(root: Location, asset_path: list[str], partition: str | None, run_id: str, log: Any,
               what: str | None = None, policy: str | None = None) -> Iterator[None]:
    """Hold the lease of one asset (and partition) for the block; wait or stop while another run holds it."""
    what = (what or "/".join(asset_path)) + (f" [{partition}]" if partition else "")
    holder = Holder.here(run_id)
    lease = _lease(warehouse_location(root), asset_path, partition, holder)
    if not lease.acquire(timeout=0):
        if (policy or if_busy_policy()) == "stop":
            raise LeaseBusyError(
                f"{what} is being materialised by {lease.who()}; let that run finish, or run again with "
                f"--if-busy wait ({IF_BUSY_ENV}=wait) to wait for it and reuse its cached work")
        log.info(f"waiting for {what}: held by {lease.who()}")
        started = reminded = time.monotonic()
        while not lease.acquire(timeout=POLL_S):
            if time.monotonic() - reminded >= REMIND_S:
                reminded = time.monotonic()
                log.info(f"still waiting for {what} after {reminded - started:.0f} s: held by {lease.who()}")
        log.info(f"{what}: lease taken after waiting {time.monotonic() - started:.0f} s")
    try:
        yield
    finally:
        lease.release()


@contextmanager
def _current_step_lease(root: Location) -> Iterator[None]:
    from dagster import AssetExecutionContext

    context = AssetExecutionContext.get()
    keys = sorted(context.assets_def.keys, key=lambda k: k.to_user_string())
    partition = context.partition_key if context.has_partition_key else None
    with step_lease(root, list(keys[0].path), partition, context.run_id, context.log,
                    what=", ".join(k.to_user_string() for k in keys)):
        yield


def leased(root: Location) -> Callable[[Callable], Callable]:
    """Decorate an asset function (under `@asset` / `@multi_asset`) so its step holds its lease in `root`.

    The step's asset keys and partition come from the running Dagster context, so the CLI, the UI
    and shard workers all take the same lease. `functools.wraps` keeps the signature Dagster reads
    the inputs from; a generator (multi-asset) keeps the lease until its last output.
    """
    def decorate(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def outputs(*args, **kwargs):
                with _current_step_lease(root):
                    yield from fn(*args, **kwargs)
            return outputs

        @functools.wraps(fn)
        def output(*args, **kwargs):
            with _current_step_lease(root):
                return fn(*args, **kwargs)
        return output

    return decorate
