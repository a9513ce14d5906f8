"""Predictions of a trained student, whatever its kind: the one place evaluation and rounds load students."""

from __future__ import annotations

from synth_assets.spec import PipelineSpec
from synth_assets.storage.checkpoints import local_checkpoint
from synth_assets.training import Prediction, get_classifier
from synth_assets.student_kinds import CAUSAL_LM_KIND
from synth_assets.training.checkpoint import Checkpoint
from synth_assets.training.prompts import answer_budget, read_label, student_prompt


def student_outputs(spec: PipelineSpec, checkpoint: Checkpoint, texts: list[str]) -> list[Prediction]:
    """A student's answer per text, in order (classifiers also give label probabilities).

    A causal-LM student answers in text: math answers are kept whole (scoring reads their number),
    a classification reply is mapped to the label it names.
    """
    if checkpoint.kind == CAUSAL_LM_KIND:
        from synth_assets.training.causal_lm import predict

        replies = predict(local_checkpoint(checkpoint.path), [student_prompt(spec, t) for t in texts], max_new_tokens=answer_budget(spec))
        if spec.task == "math":
            return [Prediction(label=r) for r in replies]
        return [Prediction(label=read_label(spec, r) or r) for r in replies]
    return get_classifier(checkpoint.kind).predict(local_checkpoint(checkpoint.path), texts)


def student_predictions(spec: PipelineSpec, checkpoint: Checkpoint, texts: list[str]) -> list[str | None]:
    """Just the answers, for scoring."""
    return [p.label for p in student_outputs(spec, checkpoint, texts)]
