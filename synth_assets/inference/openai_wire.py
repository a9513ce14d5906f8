"""The OpenAI chat-completions wire format: request bodies, one POST, reply parsing, and what counts as retryable.

Kept apart from the backend (concurrency, retries, the server pool, streaming) so either can change alone.
"""

from __future__ import annotations

from typing import Any

import httpx2

from synth_assets.inference.base import GenerationRequest, GenerationResult

NO_LOGPROBS = "server returned no logprobs; choice scoring needs an engine that supports logprobs"
TOP_LOGPROBS = 20  # the most the OpenAI API allows; vLLM and llama.cpp accept it too
_EXCERPT = 200  # characters of a failing response body kept in the row's error


class _Retryable(Exception):
    """A failure another attempt may fix (429, 5xx, timeout, connection); may carry a Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _RowFailed(Exception):
    """A failure that retrying cannot fix (4xx, no logprobs, a second malformed reply)."""


class _Malformed(Exception):
    """A 200 whose body is not JSON or lacks the fields we read."""


def _payload(model: str, request: GenerationRequest) -> dict[str, Any]:
    """The chat-completions body; choice scoring asks for one token and its top log-probs."""
    params = request.params
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": role, "content": content} for role, content in request.messages],
        "n": 1,
        "seed": params.seed,
    }
    if request.choices is None:
        body.update(max_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            body["stop"] = list(params.stop)
        if params.top_logprobs:
            body.update(logprobs=True, top_logprobs=params.top_logprobs)
    else:
        body.update(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS)
    return body


async def _post(client: httpx2.AsyncClient, url: str, payload: dict[str, Any], key: str | None,
                timeout_s: float) -> Any:
    """One attempt: the decoded JSON body, or the exception that says whether to try again."""
    try:
        response = await client.post(f"{url}/chat/completions", json=payload)
    except httpx2.TimeoutException:
        raise _Retryable(f"no response from {url} within {timeout_s:g} s") from None
    except httpx2.TransportError as exc:
        raise _Retryable(_redact(f"{type(exc).__name__} talking to {url}: {exc}", key)) from None
    code = response.status_code
    if code == 429 or code >= 500:
        raise _Retryable(_redact(f"HTTP {code} from {url}: {_excerpt(response)}", key), _retry_after(response))
    if not response.is_success:
        raise _RowFailed(_redact(f"HTTP {code} from {url} (not retried): {_excerpt(response)}", key))
    try:
        return response.json()
    except ValueError:
        raise _Malformed(_redact(f"body is not JSON: {_excerpt(response)}", key)) from None


def _parse(body: Any, request: GenerationRequest) -> GenerationResult:
    """Text (or choice scores) and token counts from a 200 body; _Malformed when fields are missing."""
    try:
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        if request.choices is None:
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError(f"message.content is {type(text).__name__}, not a string")
            top = _token_logprobs(choice) if request.params.top_logprobs else None
            return GenerationResult(text=text, token_logprobs=top, tokens_in=tokens_in, tokens_out=tokens_out)
        content = (choice.get("logprobs") or {}).get("content") or [{}]
        top_entries = content[0].get("top_logprobs")
        top = [(str(t["token"]), float(t["logprob"])) for t in top_entries or []]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise _Malformed(f"missing or invalid field ({type(exc).__name__}: {exc})") from None
    if not top:
        raise _RowFailed(NO_LOGPROBS)
    scores = score_choices(request.choices, top)
    best = max(request.choices, key=scores.__getitem__)  # ties go to the earlier choice
    return GenerationResult(text=best, choice_logprobs=scores, tokens_in=tokens_in, tokens_out=tokens_out)


def _token_logprobs(choice: dict[str, Any]) -> list[list[Any]]:
    """The chat API's logprobs.content as [token, logprob, [[top token, logprob], ...]] per token."""
    content = (choice.get("logprobs") or {}).get("content")
    if not isinstance(content, list):
        raise _RowFailed("server returned no logprobs though top_logprobs was asked for")
    return [[str(e["token"]), float(e["logprob"]), [[str(t["token"]), float(t["logprob"])] for t in e.get("top_logprobs") or []]]
            for e in content]


def score_choices(choices: tuple[str, ...], top: list[tuple[str, float]]) -> dict[str, float]:
    """Score choices by the first reply token, the rule of every backend (synth_assets/inference/label_words.py).

    Chat APIs cannot score a given continuation, nor tokenise a word on the server's vocabulary, so
    the first token of a choice is read off the first reply position's top log-probs: a top token
    matches a choice when its stripped, lower-cased text is non-empty and begins the lower-cased
    choice (" Yes" and "yes" both match "yes"; "rest" matches "restaurant"). A choice scores its best
    matching token; a choice that no top token matches gets the floor (lowest top log-prob - 1.0):
    less likely than anything listed, yet finite so margins stay usable. A choice that begins another
    one cannot be told apart from it this way; such label words are refused at spec load.
    """
    floor = min(lp for _, lp in top) - 1.0
    scores: dict[str, float] = {}
    for choice in choices:
        wanted = choice.lower()
        matches = [lp for token, lp in top if token.strip() and wanted.startswith(token.strip().lower())]
        scores[choice] = max(matches, default=floor)
    return scores


def _retry_after(response: httpx2.Response) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare from model servers and falls back to backoff."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _excerpt(response: httpx2.Response) -> str:
    text = " ".join(response.text.split())
    return text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")


def _redact(text: str, key: str | None) -> str:
    """Servers may echo request headers in an error body; the key must never reach a result."""
    return text.replace(key, "[redacted]") if key else text
