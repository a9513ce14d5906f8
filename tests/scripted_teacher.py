"""A teacher backend whose replies a test writes, for plumbing tests that need exact, known replies.

Subclasses implement `reply(request)`; every request is kept in `seen`, in order, so a test can
count calls and read the prompts the pipeline really sent.
"""

from __future__ import annotations

from synth_assets.inference.base import GenerationRequest, GenerationResult


class ScriptedTeacher:
    model_id = "scripted@1"

    def __init__(self) -> None:
        self.seen: list[GenerationRequest] = []

    def reply(self, request: GenerationRequest) -> GenerationResult:
        raise NotImplementedError("a scripted teacher says what it replies")

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.seen += requests
        return [self.reply(r) for r in requests]
