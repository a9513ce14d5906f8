"""Run teacher calls through the cache: hits are free, misses go to the backend in persisted batches.

A backend that streams (StreamingBackend: HTTP servers) keeps its window of requests in flight the
whole run and the results are persisted every `batch_size` as they finish, so a slow request holds
up nothing. A crash loses the results finished since the last persist (fewer than `batch_size`)
and the requests in flight, as a batch backend loses its batch in flight.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from synth_assets.hashing import canonical_json
from synth_assets.inference.base import CallStream, GenerationResult, StreamingBackend, TeacherBackend
from synth_assets.inference.budget import Budget, skipped
from synth_assets.inference.cache import TeacherCache, TeacherCall
from synth_assets.inference.errors import TeacherUnavailableError, summarise_errors

log = logging.getLogger("synth.teacher")


@dataclass
class RunStats:
    """What a run of calls cost; reported as asset metadata."""

    requested: int = 0
    unique: int = 0
    cache_hits: int = 0
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    skipped: int = 0  # calls the teacher budget did not allow

    def add(self, other: RunStats) -> RunStats:
        """Both runs' costs together (e.g. first attempts and structured-output retries)."""
        return RunStats(*(a + b for a, b in zip(vars(self).values(), vars(other).values())))


def run_calls(
    calls: list[TeacherCall], backend: TeacherBackend, cache: TeacherCache, batch_size: int, budget: Budget | None = None,
    probe: bool = True,
) -> tuple[dict[str, tuple[GenerationResult, bool]], RunStats]:
    """Results by cache key with a cache-hit flag; identical calls are made once, within the budget.

    `probe`: raise TeacherUnavailableError when every call of the first batch failed, instead of sending
    the rest (off where failed rows are an answer in themselves, e.g. measuring the teacher on eval rows).
    Only on a run the cache answered nothing of: a rerun's misses are often exactly the calls that failed
    before, which says nothing of the teacher; there the error-rate check judges the whole table.
    """
    started = time.perf_counter()
    budget = budget or Budget()
    unique = list({c.key: c for c in calls}.values())
    cached = cache.lookup([c.key for c in unique])
    out: dict[str, tuple[GenerationResult, bool]] = {k: (r, True) for k, r in cached.items()}
    for result in cached.values():  # paid for when first made: it counts against the cap
        budget.charge(result)
    misses = [c for c in unique if c.key not in cached]
    # Batches of one kind (scoring vs generating, same sampling params) and similar prompt length:
    # backends split mixed batches, and padding wastes compute.
    misses.sort(key=lambda c: (c.request.choices is None, canonical_json(c.request.params.as_dict()),
                               sum(len(m[1]) for m in c.request.messages)))
    stats = RunStats(requested=len(calls), unique=len(unique), cache_hits=len(cached))
    log.info("teacher %s: %d calls, %d cached, %d to generate", backend.model_id, len(unique), len(cached), len(misses))
    probing = probe and not cached
    with tqdm(total=len(misses), desc="teacher", unit="call", disable=not misses) as bar:
        if misses and isinstance(backend, StreamingBackend):
            with backend.stream() as stream:
                _stream(misses, backend.model_id, stream, cache, batch_size, budget, probing, out, stats, bar)
        else:
            _batches(misses, backend, cache, batch_size, budget, probing, out, stats, bar)
    cache.compact()
    stats.seconds = time.perf_counter() - started
    return out, stats


def _batches(misses: list[TeacherCall], backend: TeacherBackend, cache: TeacherCache, batch_size: int, budget: Budget,
             probing: bool, out: dict[str, tuple[GenerationResult, bool]], stats: RunStats, bar: tqdm) -> None:
    """Batch by batch, each persisted before the next starts: for backends that run a batch at a time."""
    generating = time.perf_counter()
    for start in range(0, len(misses), batch_size):
        batch = misses[start : start + batch_size]
        admitted = budget.admit(batch)
        if admitted < len(batch):
            _skip_over_budget(misses[start + admitted:], budget, out, stats)
            batch = batch[:admitted]
            if not batch:
                break
        results = backend.generate([c.request for c in batch])
        if len(results) != len(batch):  # a backend bug must not silently misalign rows
            raise RuntimeError(f"backend {backend.model_id} returned {len(results)} results for {len(batch)} requests")
        cache.append(backend.model_id, batch, results)  # persisted before the next batch starts
        if probing and start == 0 and len(misses) > len(batch) and not any(r.ok for r in results):
            _probe_failed(backend.model_id, results, len(misses))
        for call, result in zip(batch, results):
            out[call.key] = (result, False)
            stats.errors += 0 if result.ok else 1
            budget.charge(result)
        stats.calls += len(batch)
        bar.update(len(batch))
        if stats.skipped:
            break
        done = start + len(batch)
        if (start // batch_size) % 10 == 0 or done == len(misses):  # the tqdm bar's numbers, for the run log
            _progress(done, len(misses), generating)


def _stream(misses: list[TeacherCall], model_id: str, stream: CallStream, cache: TeacherCache, batch_size: int,
            budget: Budget, probing: bool, out: dict[str, tuple[GenerationResult, bool]], stats: RunStats,
            bar: tqdm) -> None:
    """The stream's window in flight all along; finished results persisted every `batch_size`, in any order.

    The probe holds the window at the first `batch_size` calls until one of them succeeds. The budget
    admits a call only if its worst case fits beside those of the calls in flight; a call that does not
    fit waits for them, and once nothing is in flight it and every later call are skipped.
    """
    generating = time.perf_counter()
    probing = probing and len(misses) > batch_size  # nothing is held back when the first batch is all there is
    in_flight: dict[int, TeacherCall] = {}
    finished: list[tuple[TeacherCall, GenerationResult]] = []  # not yet persisted
    probe_results: list[GenerationResult] = []
    sent = done = 0
    logged = 0
    while True:
        while sent < len(misses) and stream.room() > 0 and not (probing and sent >= batch_size):
            call = misses[sent]
            if budget.limited and budget.admit([*in_flight.values(), call]) <= len(in_flight):
                if in_flight:
                    break  # perhaps it fits once the calls in flight are charged what they really cost
                _skip_over_budget(misses[sent:], budget, out, stats)
                sent = len(misses)
                break
            stream.submit(sent, call.request)
            in_flight[sent] = call
            sent += 1
        if not in_flight:
            break
        batch = stream.results()
        for index, result in batch:
            call = in_flight.pop(index, None)
            if call is None:  # a backend bug must not silently misalign rows
                raise RuntimeError(f"backend {model_id} returned a result for request {index}, which is not in flight")
            finished.append((call, result))
            out[call.key] = (result, False)
            stats.errors += 0 if result.ok else 1
            budget.charge(result)
            if probing:
                probe_results.append(result)
                probing = not result.ok and len(probe_results) < batch_size
                if not probing and not result.ok:  # the first batch_size results all failed
                    _probe_failed(model_id, probe_results, len(misses))
        while len(finished) >= batch_size:
            _persist(cache, model_id, finished[:batch_size])
            del finished[:batch_size]
        stats.calls += len(batch)
        done += len(batch)
        bar.update(len(batch))
        if done - logged >= 10 * batch_size or (sent == len(misses) and not in_flight):
            logged = done
            _progress(done, len(misses) - stats.skipped, generating)
    _persist(cache, model_id, finished)


def _skip_over_budget(over: list[TeacherCall], budget: Budget, out: dict[str, tuple[GenerationResult, bool]],
                      stats: RunStats) -> None:
    """The calls the budget does not allow: never sent, each an error row saying so."""
    log.warning("teacher budget reached (%.4f USD, %d calls): %d calls skipped", budget.spent_usd, budget.calls, len(over))
    for call in over:
        out[call.key] = (skipped(), False)
    stats.skipped = len(over)


def _persist(cache: TeacherCache, model_id: str, finished: list[tuple[TeacherCall, GenerationResult]]) -> None:
    if finished:
        cache.append(model_id, [c for c, _ in finished], [r for _, r in finished])


def _probe_failed(model_id: str, results: list[GenerationResult], misses: int) -> None:
    """The first calls are the probe: a teacher that failed every one of them (down, refusing, missing
    logprobs) would fail the rest too, so the step fails now, in the server's words."""
    raise TeacherUnavailableError(
        f"teacher {model_id}: all {len(results)} first calls failed, so the other "
        f"{misses - len(results)} were not sent: {summarise_errors(r.error for r in results)}")


def _progress(done: int, total: int, since: float) -> None:
    """The tqdm bar's numbers, for the run log."""
    rate = done / max(time.perf_counter() - since, 1e-9)
    log.info("teacher: %d/%d generated, %.1f calls/s, ~%.0f s left", done, total, rate, (total - done) / rate)
