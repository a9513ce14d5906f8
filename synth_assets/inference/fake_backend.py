"""Deterministic backend for unit tests of the plumbing. Never a default of anything a user runs."""

from __future__ import annotations

import random
import time

from synth_assets.hashing import stable_hash
from synth_assets.inference.base import GenerationRequest, GenerationResult


class FakeBackend:
    """Scores choices by a hash and 'rewrites' text by shuffling its words; can log and fail calls."""

    def __init__(self, model: str = "fake", call_log: str | None = None, fail_marker: str | None = None, delay_s: float = 0.0):
        self._model = model
        self.delay_s = delay_s
        self.call_log = call_log
        self.fail_marker = fail_marker

    @property
    def model_id(self) -> str:
        return f"{self._model}@fake-1"

    def _one(self, req: GenerationRequest) -> GenerationResult:
        prompt = "\n".join(content for _, content in req.messages)
        if self.fail_marker and self.fail_marker in prompt:
            return GenerationResult(text=None, error=f"injected failure: prompt contains {self.fail_marker!r}")
        tokens_in = len(prompt.split())
        if req.choices is not None:
            scores = {c: -int(stable_hash(prompt, c, length=6), 16) / 2**24 * 4 for c in req.choices}
            return GenerationResult(text=max(scores, key=scores.__getitem__), choice_logprobs=scores, tokens_in=tokens_in)
        words = prompt.split("\n")[-1].split()
        random.Random(stable_hash(prompt, req.params.as_dict())).shuffle(words)
        text = " ".join(words[: req.params.max_new_tokens])
        k = req.params.top_logprobs
        # one "token" per word, the chosen one first among k candidates, like a real engine's shape
        top = [[w, -0.25, [[w, -0.25]] + [[f"{w}~{j}", -1.0 - j] for j in range(k - 1)]] for w in text.split()] if k else None
        return GenerationResult(text=text, token_logprobs=top, tokens_in=tokens_in, tokens_out=len(words), latency_ms=1.0)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        time.sleep(self.delay_s)
        if self.call_log:
            with open(self.call_log, "a", encoding="utf-8") as fh:
                fh.writelines(stable_hash([list(m) for m in r.messages], r.choices) + "\n" for r in requests)
        return [self._one(r) for r in requests]
