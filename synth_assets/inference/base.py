"""The one protocol every teacher backend speaks: batched requests in, one result per request out.

Backends that can overlap requests (HTTP servers) also open a `CallStream`: requests go in one
by one and come out as they finish, so a slow request holds up no batch. The runner persists what
finished in batches of its own; backends without a stream are called batch by batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from synth_assets.hashing import stable_hash


@dataclass(frozen=True)
class SamplingParams:
    """Everything that changes a generation besides the prompt; all of it enters the cache key."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    # the k most likely tokens (with log-probs) at each generated position, kept for logit distillation
    top_logprobs: int = 0

    def as_dict(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "stop": list(self.stop),
        }
        if self.top_logprobs:  # absent when off, so cache keys made before the option existed still match
            params["top_logprobs"] = self.top_logprobs
        return params


@dataclass(frozen=True)
class GenerationRequest:
    """One teacher call. With `choices` set the backend scores each choice instead of sampling.

    Scoring choices is the log-likelihood method of lm-eval-harness: a small teacher that is near
    chance when asked to *generate* a label ranks label words far better, and the margin between the
    best and second-best choice is a usable confidence.
    """

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, rendered with the chat template
    params: SamplingParams = field(default_factory=SamplingParams)
    choices: tuple[str, ...] | None = None

    def cache_key(self, model_id: str, strategy: str, strategy_version: str) -> str:
        """Content address of this call: model, rendered prompt, params, strategy version, choices."""
        return stable_hash(
            model_id,
            [list(m) for m in self.messages],
            self.params.as_dict(),
            strategy,
            strategy_version,
            list(self.choices) if self.choices is not None else None,
            length=32,
        )


@dataclass
class GenerationResult:
    """The outcome of one request; `error` is set instead of raising so one bad row never sinks a batch."""

    text: str | None
    choice_logprobs: dict[str, float] | None = None
    # with SamplingParams.top_logprobs: per generated token, [token, logprob, [[top token, logprob], ...]]
    token_logprobs: list[list[Any]] | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class TeacherBackend(Protocol):
    """What the pipeline needs from a teacher; implemented by each backend module."""

    @property
    def model_id(self) -> str:
        """Model name plus revision: part of every cache key."""
        ...

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Run a batch; must return exactly one result per request, in order, never raise per row."""
        ...


class CallStream(Protocol):
    """Requests in flight on one backend; closing it cancels those not yet sent, which are never sent."""

    def room(self) -> int:
        """How many more requests the stream wants now: its window less those submitted and not yet returned."""
        ...

    def submit(self, index: int, request: GenerationRequest) -> None:
        """Start one request; `index` is the caller's and comes back with its result."""
        ...

    def results(self) -> list[tuple[int, GenerationResult]]:
        """Wait until at least one submitted request finished; every (index, result) finished since the last call."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> CallStream:
        ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        ...


@runtime_checkable
class StreamingBackend(TeacherBackend, Protocol):
    """A backend that keeps requests in flight across batches; the runner uses `stream` when there is one."""

    def stream(self) -> CallStream:
        """A stream of calls, e.g. `with backend.stream() as s: s.submit(0, request); s.results()`."""
        ...
