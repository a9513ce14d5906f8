"""What student.distill needs before anything runs (each refusal names its field): soft labels and confidence
weights need a classifier student; logits need a causal-LM student, stored token distributions of teacher-written
targets, and one tokenizer vocabulary for teacher and student."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec

# backends that load the teacher's weights themselves, so teacher.model names its tokenizer too
LOCAL_BACKENDS = ("transformers", "vllm")


def check_distill(spec: PipelineSpec) -> None:
    """Refuse student.distill settings and confidence weights the student kind or task cannot use."""
    # a causal_lm student learns text answers: it would silently ignore label distributions and row weights
    if spec.student.kind == "causal_lm" and spec.student.distill.soft_labels:
        raise ValueError("student.distill.soft_labels: soft labels train classifier students (encoder_classifier, "
                         "tfidf_logreg); a causal_lm student learns the teacher's text")
    if spec.student.kind == "causal_lm" and spec.filters.confidence.mode == "weight":
        raise ValueError("filters.confidence.mode: weight gives rows weights only classifier students train with; "
                         "use mode: threshold with a causal_lm student")
    if spec.student.distill.soft_labels and spec.task != "classification":
        raise ValueError("student.distill.soft_labels: only a classification task has label distributions")
    check_logit_distill(spec)


def check_logit_distill(spec: PipelineSpec) -> None:
    """Refuse a logit-distillation spec that could not work; nothing when student.distill.logits is off."""
    distill = spec.student.distill
    if not distill.logits:
        return
    if spec.student.kind != "causal_lm":
        raise ValueError(f"student.distill.logits: the teacher's token distributions train a causal_lm student; "
                         f"kind is {spec.student.kind!r}")
    later = [spec.rounds.strategy] if spec.rounds.strategy is not None and spec.rounds.max_rounds else []
    writers = [c for c in [*spec.strategies, *later] if c.top_logprobs and c.name in distill.TEACHER_WRITTEN]
    if spec.task != "math" or not writers:
        raise ValueError("student.distill.logits: no strategy stores the teacher's token distributions of a target it "
                         "writes; set top_logprobs (e.g. 5) on a math strategy whose target is the teacher's solution "
                         f"({', '.join(distill.TEACHER_WRITTEN)})")
    teacher = distill.teacher_tokenizer or (spec.teacher.model if _loads_locally(spec) else None)
    if teacher is None:
        raise ValueError(f"student.distill.teacher_tokenizer: the {spec.teacher.backend} teacher's model "
                         f"{spec.teacher.model!r} is a served name, not a tokenizer synth can load; set teacher_tokenizer "
                         "to a local dir, hub id or embedded: name of the teacher's tokenizer")
    from synth_assets.models.vocab import TokenizerLoadError, vocab_mismatch

    try:
        problem = vocab_mismatch(teacher, spec.student.base_model)
    except TokenizerLoadError as exc:
        raise ValueError(f"student.distill.{'teacher_tokenizer' if distill.teacher_tokenizer else 'logits'}: {exc}") from None
    if problem:
        raise ValueError(f"student.distill.logits: {problem}")


def _loads_locally(spec: PipelineSpec) -> bool:
    """Whether teacher.model is something a tokenizer loads from (not a name only a server knows)."""
    return spec.teacher.backend in LOCAL_BACKENDS or Path(spec.teacher.model).expanduser().is_dir()
