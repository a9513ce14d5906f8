"""Teacher backend for any OpenAI-compatible chat-completions server (vLLM, llama.cpp, hosted APIs)."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from types import TracebackType

import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.label_words import prefix_collisions
from synth_assets.inference.openai_wire import (
    _Malformed,
    _parse,
    _payload,
    _post,
    _redact,
    _Retryable,
    _RowFailed,
)

class APIKeyMissingError(RuntimeError):
    """The environment variable named by `api_key_env` is unset or empty."""


class OpenAIBackend:
    """TeacherBackend over HTTP: bounded concurrency, round-robin over a pool, retries with backoff.

    `generate` and `stream` are synchronous (Dagster steps are); a stream runs its own event loop
    on a thread of its own, so they work inside a running loop too. Requests are spread over
    `base_urls` round-robin: row i starts on server i, and each retry moves to the next server, so
    one sick server costs a retry rather than the row. `concurrency` bounds requests in flight
    across the whole pool. The API key is read from `api_key_env` when a stream opens (every
    `generate` opens one) and is never stored on the backend.
    """

    def __init__(self, model: str, base_urls: list[str], api_key_env: str | None = None, concurrency: int = 8,
                 timeout_s: float = 60.0, max_retries: int = 5, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0) -> None:
        if not base_urls:
            raise ValueError("base_urls is empty: give at least one server, e.g. http://127.0.0.1:8000/v1")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_s <= 0 or backoff_base_s < 0 or backoff_max_s < 0:
            raise ValueError("timeout_s must be > 0 and backoff_base_s, backoff_max_s >= 0")
        self.model = model
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._jitter = wait_random_exponential(multiplier=backoff_base_s, max=backoff_max_s)

    @property
    def model_id(self) -> str:
        """The served model name only: adding or removing a server from the pool must not miss the cache.

        The servers are assumed to serve the same weights; a server cannot tell us a fingerprint of
        them, so when the weights behind a name change, change the name (e.g. a revision suffix).
        """
        return f"openai:{self.model}"

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order; a failing row gets `error` and the others still run."""
        if not requests:
            return []
        results: list[GenerationResult | None] = [None] * len(requests)
        with self.stream() as stream:
            for i, request in enumerate(requests):  # past the window: the rows wait for the semaphore
                stream.submit(i, request)
            remaining = len(requests)
            while remaining:
                done = stream.results()
                for i, result in done:
                    results[i] = result
                remaining -= len(done)
        return [r for r in results if r is not None]

    def stream(self) -> _Stream:
        """Requests in flight continuously, results as they finish: no batch waits for its slowest row."""
        return _Stream(self, self._api_key())

    # -- internals -------------------------------------------------------------------------------

    def _api_key(self) -> str | None:
        """Read at call time, so a rotated key is picked up and the backend object never holds it."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise APIKeyMissingError(f"teacher api_key_env names {self.api_key_env!r} but that environment "
                                     "variable is unset or empty: export it, or drop api_key_env")
        return key

    async def _row(self, client: httpx2.AsyncClient, semaphore: asyncio.Semaphore, index: int,
                   request: GenerationRequest, key: str | None) -> GenerationResult:
        """Run one request to completion or to an error row; latency_ms is that of the final attempt."""
        if request.choices is not None and not request.choices:
            return GenerationResult(text=None, error="choices is an empty tuple; give at least one choice or None")
        clash = prefix_collisions(request.choices) if request.choices else []
        if clash:  # the prefix match would give the longer word every score of the shorter one
            return GenerationResult(text=None, error=f"choices {clash[0][0]!r} and {clash[0][1]!r} cannot be told apart by "
                                                     "their first token (one begins the other); use words that start differently")
        malformed = 0
        latency_ms = 0.0
        attempts = AsyncRetrying(stop=stop_after_attempt(self.max_retries + 1), wait=self._wait,
                                 retry=retry_if_exception_type(_Retryable), reraise=True)
        try:
            payload = _payload(self.model, request)
            async for attempt in attempts:
                with attempt:
                    url = self.base_urls[(index + attempt.retry_state.attempt_number - 1) % len(self.base_urls)]
                    try:
                        # Held for the HTTP call only: a row sleeping through its backoff blocks nobody.
                        async with semaphore:
                            start = time.perf_counter()
                            try:
                                body = await _post(client, url, payload, key, self.timeout_s)
                            finally:
                                latency_ms = (time.perf_counter() - start) * 1000
                        result = _parse(body, request)
                    except _Malformed as exc:
                        malformed += 1  # one retry: a truncated reply is usually a fluke, twice is the server
                        if malformed > 1:
                            raise _RowFailed(f"malformed response twice from {url}: {exc}") from None
                        raise _Retryable(f"malformed response from {url}: {exc}") from None
                    result.latency_ms = latency_ms
                    return result
        except _Retryable as exc:
            error = f"gave up after {self.max_retries + 1} attempts; last: {exc}"
        except _RowFailed as exc:
            error = str(exc)
        except Exception as exc:  # anything unforeseen belongs to this row only
            error = f"{type(exc).__name__}: {exc}"
        return GenerationResult(text=None, latency_ms=latency_ms, error=_redact(error, key))

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one (capped at backoff_max_s), else full-jitter exponential."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.backoff_max_s)
        return self._jitter(state)


class _Stream:
    """A CallStream over one client and one event loop on a thread of its own, for one run of calls.

    The window is twice `concurrency` rows: the semaphore keeps `concurrency` HTTP calls in flight,
    and the rows beyond it are ready to take a slot the moment one frees, and to stand in for rows
    sleeping through a backoff (which hold no slot).
    """

    def __init__(self, backend: OpenAIBackend, key: str | None) -> None:
        self._backend, self._key = backend, key
        self._window = 2 * backend.concurrency
        self._unfinished = 0
        self._finished: queue.SimpleQueue[tuple[int, GenerationResult]] = queue.SimpleQueue()
        self._tasks: set[asyncio.Task[GenerationResult]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-backend", daemon=True)
        self._thread.start()
        self._client, self._semaphore = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()

    async def _open(self) -> tuple[httpx2.AsyncClient, asyncio.Semaphore]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx2.Limits(max_connections=self._backend.concurrency)
        client = httpx2.AsyncClient(timeout=self._backend.timeout_s, limits=limits, headers=headers)
        return client, asyncio.Semaphore(self._backend.concurrency)

    def room(self) -> int:
        return max(0, self._window - self._unfinished)

    def submit(self, index: int, request: GenerationRequest) -> None:
        self._unfinished += 1
        self._loop.call_soon_threadsafe(self._start, index, request)

    def results(self) -> list[tuple[int, GenerationResult]]:
        if not self._unfinished:
            raise RuntimeError("results() waited on a stream with nothing submitted and unreturned")
        while True:
            try:
                done = [self._finished.get(timeout=1.0)]
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the openai backend's event loop stopped with requests unfinished") from None
        while True:
            try:
                done.append(self._finished.get_nowait())
            except queue.Empty:
                break
        self._unfinished -= len(done)
        return done

    def close(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- on the loop's thread --------------------------------------------------------------------

    def _start(self, index: int, request: GenerationRequest) -> None:
        task = self._loop.create_task(self._backend._row(self._client, self._semaphore, index, request, self._key))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(index, t))

    def _done(self, index: int, task: asyncio.Task[GenerationResult]) -> None:
        self._tasks.discard(task)
        if task.cancelled():  # closed early: nobody waits for this row
            return
        exc = task.exception()  # _row turns every failure into a row; this is the last line of defence
        result = task.result() if exc is None else GenerationResult(text=None, error=_redact(f"{type(exc).__name__}: {exc}", self._key))
        self._finished.put((index, result))

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
