"""run_calls over a streaming backend (OpenAIBackend on loopback servers): no batch barrier, same guarantees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from openai_server import Fleet

from synth_assets.inference.base import GenerationRequest, SamplingParams, StreamingBackend
from synth_assets.inference.budget import SKIPPED, Budget
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.errors import TeacherUnavailableError
from synth_assets.inference.openai_backend import OpenAIBackend
from synth_assets.inference.runner import run_calls

CHILD = """
import sys
sys.path.insert(0, {here!r})
from pathlib import Path
from test_runner_stream import backend, make_calls
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.runner import run_calls
run_calls(make_calls({n}), backend([{url!r}], concurrency={concurrency}), TeacherCache(Path({warehouse!r})), batch_size={batch})
"""


def make_calls(n: int, slow_every: int = 0) -> list[TeacherCall]:
    """Prompts of one length, so the runner's sort keeps them in order; every `slow_every`-th is slow."""
    calls = []
    for i in range(n):
        tag = "[slow]" if slow_every and i % slow_every == 0 else "[fine]"
        req = GenerationRequest(messages=(("user", f"row {i:04d} {tag}"),), params=SamplingParams(max_new_tokens=8))
        calls.append(TeacherCall(req.cache_key("m", "s", "1"), req, "s", "1"))
    return calls


def backend(urls: list[str], **kwargs) -> OpenAIBackend:
    settings = {"timeout_s": 10.0, "max_retries": 1, "backoff_base_s": 0.005, "backoff_max_s": 0.05, **kwargs}
    return OpenAIBackend("teacher-7b", urls, **settings)


class RecordingCache(TeacherCache):
    """The real cache, remembering how many rows each append stored (a run folds its spool files away at the end)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.appended: list[int] = []

    def append(self, model_id, calls, results) -> int:
        stored = super().append(model_id, calls, results)
        self.appended.append(stored)
        return stored


def shard_sizes(cache: TeacherCache) -> list[int]:
    """Rows per file name: before a fold, one spool file per append."""
    sizes: dict[str, int] = {}
    for p in cache.shards():
        sizes[p.name] = sizes.get(p.name, 0) + pl.read_parquet(p).height
    return sorted(sizes.values())


def test_a_slow_request_holds_up_no_batch(tmp_path: Path) -> None:
    fleet = Fleet(n=1, delay_s=0.01, slow_s=1.0)
    try:
        calls = make_calls(32, slow_every=8)  # one slow request in each batch of 8
        teacher = backend(fleet.urls, concurrency=4)
        assert isinstance(teacher, StreamingBackend)
        out, stats = run_calls(calls, teacher, TeacherCache(tmp_path), batch_size=8)
        assert stats.calls == 32 and stats.errors == 0
        assert all(out[c.key][0].text == c.request.messages[-1][1][::-1] for c in calls)  # aligned with its request
        first_slow = next(r for r in fleet.records if "[slow]" in r.prompt)
        during = [r for r in fleet.records if first_slow.at < r.at < first_slow.done]
        # behind a batch barrier only the other 7 of its batch could be sent while it was pending
        assert len(during) >= 8
        assert fleet.max_in_flight <= 4
    finally:
        fleet.close()


def test_results_are_persisted_every_batch_size_as_they_finish(tmp_path: Path) -> None:
    fleet = Fleet(n=2)
    try:
        cache = RecordingCache(tmp_path)
        _, stats = run_calls(make_calls(45), backend(fleet.urls, concurrency=8), cache, batch_size=10)
        assert stats.calls == 45 and sorted(cache.appended) == [5, 10, 10, 10, 10]
        assert not cache.layout.flat_shards() and pl.read_parquet(cache.shards()).height == 45  # folded at the end
        out, again = run_calls(make_calls(45), backend(fleet.urls, concurrency=8), cache, batch_size=10)
        assert again.cache_hits == 45 and again.calls == 0 and len(fleet.records) == 45
    finally:
        fleet.close()


def test_probe_sends_only_the_first_batch_to_a_teacher_that_fails_them_all(tmp_path: Path) -> None:
    fleet = Fleet(n=1)
    try:
        calls = [TeacherCall(r.cache_key("m", "s", "1"), r, "s", "1") for r in
                 (GenerationRequest(messages=(("user", f"row {i:04d} [400]"),)) for i in range(40))]
        with pytest.raises(TeacherUnavailableError, match="all 4 first calls failed, so the other 36 were not sent"):
            run_calls(calls, backend(fleet.urls, concurrency=8), TeacherCache(tmp_path), batch_size=4)
        assert len(fleet.records) == 4
    finally:
        fleet.close()


def test_budget_admits_calls_as_they_stream_and_never_sends_past_the_cap(tmp_path: Path) -> None:
    fleet = Fleet(n=1, delay_s=0.01)
    try:
        calls = make_calls(30)
        out, stats = run_calls(calls, backend(fleet.urls, concurrency=8), TeacherCache(tmp_path), batch_size=4,
                               budget=Budget(max_calls=10))
        assert len(fleet.records) == 10 and stats.calls == 10 and stats.skipped == 20
        assert [out[c.key][0].error == SKIPPED for c in calls] == [False] * 10 + [True] * 20
    finally:
        fleet.close()


def test_killed_run_loses_at_most_the_unpersisted_batch_and_the_requests_in_flight(tmp_path: Path) -> None:
    n, batch, concurrency = 300, 8, 4
    fleet = Fleet(n=1, delay_s=0.05)
    try:
        code = CHILD.format(here=str(Path(__file__).parent), n=n, url=fleet.urls[0], concurrency=concurrency,
                            warehouse=str(tmp_path), batch=batch)
        child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        cache = TeacherCache(tmp_path)
        deadline = time.time() + 120
        while len({p.name for p in cache.shards()}) < 3 and time.time() < deadline:  # a few batches persisted
            assert child.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        time.sleep(0.2)  # replies the server was writing when the client died are counted too
        paid_before = sum(fleet.completed.values())
        sizes = shard_sizes(cache)
        persisted = sum(sizes)
        # whole batches: a batch is one spool file, written atomically
        assert set(sizes) == {batch} and 0 < persisted <= paid_before < n
        # lost: fewer than one batch of finished results, and the requests that were in flight
        assert paid_before - persisted <= (batch - 1) + concurrency

        out, stats = run_calls(make_calls(n), backend(fleet.urls, concurrency=concurrency), cache, batch_size=batch)
        assert stats.cache_hits == persisted and stats.calls == n - persisted and stats.errors == 0
        assert sum(fleet.completed.values()) - paid_before == n - persisted  # the rerun paid only for what was lost
        assert all(r.ok for r, _ in out.values()) and len(out) == n
    finally:
        fleet.close()
