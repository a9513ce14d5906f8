"""A step lease held as an object in the warehouse's bucket: one holder across every machine that shares it.

Taking the lease is a conditional PUT (`If-None-Match: *`): of two runs that try at once, only
one creates the object. The holder rewrites it every BEAT_S seconds (`If-Match` its last ETag),
so its ETag keeps changing while it lives. A waiter that sees one ETag unchanged for STALE_S by
its own clock knows the holder is gone (a lost machine, a killed pod) and takes the lease over
with a conditional PUT of its own. Of two waiters breaking at once, only one wins. On the
holder's own host a dead pid breaks the lease at once. No clocks are compared across machines.

The object holds the holder's record (run, pid, host, since), for the message of whoever waits.
S3 and S3-compatible servers (MinIO, moto) support these conditional writes.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from typing import Any

from fsspec.asyn import sync

from synth_assets.processes import process_alive
from synth_assets.storage.location import Location

log = logging.getLogger("synth.lease")
BEAT_S = 10.0
STALE_S = 60.0  # six missed beats


class LeaseTimeout(TimeoutError):
    """The lease stayed held for the whole wait."""


def _precondition_failed(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, FileExistsError) or "pre-condition" in text or "precondition" in text


class ObjectLease:
    """Acquire, hold (heartbeat) and release one lease object; `record` says who holds it."""

    def __init__(self, path: Location, record: dict[str, Any], beat_s: float = BEAT_S, stale_s: float = STALE_S):
        self.path, self.record, self.beat_s, self.stale_s = path, record, beat_s, stale_s
        self.bucket, _, self.key = path.path.partition("/")
        self._etag: str | None = None
        self._seen: tuple[str, float] | None = None  # the holder's ETag as first seen, and when (monotonic)
        self._stop = threading.Event()
        self._beats: threading.Thread | None = None

    def _s3(self, method: str, **kwargs: Any) -> dict:
        return self.path.fs.call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)

    def _put(self, **condition: str) -> str:
        body = json.dumps({**self.record, "nonce": secrets.token_hex(6)}).encode()  # a new ETag every write
        return self._s3("put_object", Body=body, ContentType="application/json", **condition)["ETag"]

    def holder(self) -> tuple[dict[str, Any], str] | None:
        """The current holder's record and the object's ETag, or None when nobody holds it."""
        try:
            got = self._s3("get_object")
            body = sync(self.path.fs.loop, got["Body"].read)  # s3fs's client is async: read on its loop
        except FileNotFoundError:
            return None
        try:
            record = json.loads(body)
        except (ValueError, TypeError):
            record = {}
        return record, got["ETag"]

    def try_acquire(self) -> bool:
        """Take the lease if it is free or its holder is gone; never waits."""
        try:
            self._etag = self._put(IfNoneMatch="*")
        except OSError as exc:
            if not _precondition_failed(exc):
                raise
            if not self._take_over():
                return False
        self._stop.clear()
        self._beats = threading.Thread(target=self._beat, name=f"lease {self.key}", daemon=True)
        self._beats.start()
        return True

    def _take_over(self) -> bool:
        """Replace a dead holder's lease (If-Match its ETag, so one breaker wins); False while it lives."""
        held = self.holder()
        if held is None:
            return False  # released between our PUT and this read: the next try creates it
        record, etag = held
        now = time.monotonic()
        if self._seen is None or self._seen[0] != etag:
            self._seen = (etag, now)
        same_host_dead = record.get("host") == socket.gethostname() and not process_alive(int(record.get("pid") or 0))
        if not same_host_dead and now - self._seen[1] < self.stale_s:
            return False
        try:
            self._etag = self._put(IfMatch=etag)
        except (OSError, FileNotFoundError) as exc:
            if _precondition_failed(exc) or isinstance(exc, FileNotFoundError):
                return False  # another waiter broke it first, or the holder beat meanwhile
            raise
        log.warning("lease %s: its holder %s stopped beating or died; taken over", self.path, record.get("run_id"))
        return True

    def _beat(self) -> None:
        while not self._stop.wait(self.beat_s):
            try:
                self._etag = self._put(IfMatch=self._etag)
            except OSError as exc:
                if _precondition_failed(exc) or isinstance(exc, FileNotFoundError):
                    log.warning("lease %s was taken over by another run while this one held it", self.path)
                    return
                log.warning("lease %s: heartbeat failed (%s); retrying", self.path, exc)

    def acquire(self, timeout: float, poll_s: float = 1.0) -> None:
        """Take the lease within `timeout` seconds (0: one try), or raise LeaseTimeout."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LeaseTimeout(str(self.path))
            time.sleep(min(poll_s, max(0.01, deadline - time.monotonic())))

    def release(self) -> None:
        """Stop the heartbeat and delete the object, if it is still this holder's."""
        self._stop.set()
        if self._beats is not None:
            self._beats.join()
        try:
            self._s3("delete_object", IfMatch=self._etag)
        except (OSError, FileNotFoundError) as exc:
            if not (_precondition_failed(exc) or isinstance(exc, FileNotFoundError)):
                log.warning("lease %s not released (%s); the next run takes it over once it is stale", self.path, exc)
