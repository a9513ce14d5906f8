"""Pieces every in-process engine backend shares: timing a batch, turning an exception into a row error."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from synth_assets.inference.base import GenerationResult

R = TypeVar("R")


class PromptTooLongError(ValueError):
    """A prompt (plus its reply budget) that does not fit the model's context window."""


def timed(call: Callable[[Sequence[R]], list[GenerationResult]], rows: Sequence[R]) -> list[GenerationResult]:
    """Run one batch and give each row an equal share of its wall time."""
    start = time.perf_counter()
    outcomes = call(rows)
    share = (time.perf_counter() - start) * 1000 / len(rows)
    for outcome in outcomes:
        outcome.latency_ms = share
    return outcomes


def failed(exc: BaseException) -> GenerationResult:
    """The row error for an exception: its type and message, never a crash of the batch."""
    return GenerationResult(text=None, error=f"{type(exc).__name__}: {exc}")
