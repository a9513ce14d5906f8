"""Pieces every in-process engine backend shares: timing a batch, turning an exception into a row error."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.label_words import first_tokens

R = TypeVar("R")
# OpenAI's API caps top_logprobs at 20; the same cap everywhere keeps one spec valid on every backend
MAX_TOP_LOGPROBS = 20


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


def plan_reply(request: GenerationRequest, encode: Callable[[str], list[int]]) -> tuple[list[list[int]] | None, int, str]:
    """Check a request's reply side before it joins a batch: (choice token ids or None, reply tokens, what they are).

    Generation needs sane sampling params; scoring needs choices that tokenize to something.
    """
    if request.choices is None:
        params = request.params
        if (params.max_new_tokens < 1 or params.temperature < 0 or not 0 < params.top_p <= 1
                or not 0 <= params.top_logprobs <= MAX_TOP_LOGPROBS):
            raise ValueError(f"sampling params {params.as_dict()} are invalid: need max_new_tokens >= 1, "
                             f"temperature >= 0, 0 < top_p <= 1 and 0 <= top_logprobs <= {MAX_TOP_LOGPROBS}")
        return None, params.max_new_tokens, f"max_new_tokens={params.max_new_tokens}"
    if not request.choices:
        raise ValueError("choices is an empty tuple; give at least one choice or None to generate")
    choice_ids = [list(encode(c)) for c in request.choices]
    empty = [c for c, ids in zip(request.choices, choice_ids) if not ids]
    if empty:
        raise ValueError(f"choices {empty!r} tokenize to nothing and cannot be scored")
    # every in-process backend scores a choice by its first token (synth_assets/inference/label_words.py)
    return first_tokens(request.choices, choice_ids), 1, "one choice token"


def check_fits(prompt_tokens: int, reply_tokens: int, what: str, context: int | None, limit: str, advice: str) -> None:
    """A row whose prompt plus reply budget exceeds the context fails alone: a cut-short reply is not the one asked for."""
    if context is not None and prompt_tokens + reply_tokens > context:
        raise PromptTooLongError(f"prompt is {prompt_tokens} tokens; with {what} it exceeds {limit} of {context} tokens: {advice}")
