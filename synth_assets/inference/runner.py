"""Run teacher calls through the cache: hits are free, misses go to the backend in persisted batches."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from synth_assets.hashing import canonical_json
from synth_assets.inference.base import GenerationResult, TeacherBackend
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
    generating = time.perf_counter()
    with tqdm(total=len(misses), desc="teacher", unit="call", disable=not misses) as bar:
        for start in range(0, len(misses), batch_size):
            batch = misses[start : start + batch_size]
            admitted = budget.admit(batch)
            if admitted < len(batch):
                over = misses[start + admitted:]
                log.warning("teacher budget reached (%.4f USD, %d calls): %d calls skipped", budget.spent_usd, budget.calls, len(over))
                for call in over:
                    out[call.key] = (skipped(), False)
                stats.skipped = len(over)
                batch = batch[:admitted]
                if not batch:
                    break
            results = backend.generate([c.request for c in batch])
            if len(results) != len(batch):  # a backend bug must not silently misalign rows
                raise RuntimeError(f"backend {backend.model_id} returned {len(results)} results for {len(batch)} requests")
            cache.append(backend.model_id, batch, results)  # persisted before the next batch starts
            if probe and start == 0 and not cached and len(misses) > len(batch) and not any(r.ok for r in results):
                # the first calls are the probe: a teacher that failed every one of them (down, refusing,
                # missing logprobs) would fail the rest too, so the step fails now, in the server's words
                raise TeacherUnavailableError(
                    f"teacher {backend.model_id}: all {len(batch)} first calls failed, so the other "
                    f"{len(misses) - len(batch)} were not sent: {summarise_errors(r.error for r in results)}")
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
                rate = done / max(time.perf_counter() - generating, 1e-9)
                log.info("teacher: %d/%d generated, %.1f calls/s, ~%.0f s left", done, len(misses), rate, (len(misses) - done) / rate)
    cache.compact()
    stats.seconds = time.perf_counter() - started
    return out, stats
