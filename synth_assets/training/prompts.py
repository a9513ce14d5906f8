"""The exact prompt a text-answering student sees, in training and at inference alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec


def student_prompt(spec: PipelineSpec, text: str) -> str:
    """The task instruction plus the input; labels are listed so a classifier-by-text knows its choices."""
    if spec.task == "math":
        return f"{spec.instruction}\n\nProblem: {text}"
    return f"{spec.instruction}\n\nText: {text}\n\nAnswer with one of: {', '.join(spec.labels)}."


def read_label(spec: PipelineSpec, reply: str) -> str | None:
    """The label a free-text reply names first (classification by a causal-LM student); None if none."""
    lowered = reply.strip().lower()
    starts = [label for label in spec.labels if lowered.startswith(label.lower())]
    if starts:
        return max(starts, key=len)
    found = [(lowered.find(label.lower()), label) for label in spec.labels if label.lower() in lowered]
    return min(found)[1] if found else None


def answer_budget(spec: PipelineSpec) -> int:
    """New tokens a student may write: a worked math solution needs room, a label a few tokens."""
    return 256 if spec.task == "math" else 8
