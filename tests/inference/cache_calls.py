"""Teacher calls for the cache tests, including calls whose keys fall in a chosen cache partition."""

from __future__ import annotations

from synth_assets.inference.base import GenerationRequest, SamplingParams
from synth_assets.inference.cache import TeacherCall


def call(text: str, temperature: float = 0.0, model: str = "m") -> TeacherCall:
    """A one-message call under strategy "s" version "1"."""
    req = GenerationRequest(messages=(("user", text),), params=SamplingParams(temperature=temperature))
    return TeacherCall(req.cache_key(model, "s", "1"), req, "s", "1")


def calls_in(part: str, n: int, tag: str = "q") -> list[TeacherCall]:
    """n calls whose keys all fall in one partition (keys are hex digests: about 256 tries each)."""
    found, i = [], 0
    while len(found) < n:
        c, i = call(f"{tag}{i}"), i + 1
        if c.key.startswith(part):
            found.append(c)
    return found
