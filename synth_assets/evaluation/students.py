"""Predictions of a trained student, whatever its kind: the one place evaluation and rounds load students."""

from __future__ import annotations

from typing import Any

from synth_assets.training import Prediction, get_classifier


def student_outputs(checkpoint: dict[str, Any], texts: list[str]) -> list[Prediction]:
    """A student_checkpoint row's answer (and, for classifiers, label probabilities) per text, in order."""
    return get_classifier(checkpoint["kind"]).predict(checkpoint["path"], texts)


def student_predictions(checkpoint: dict[str, Any], texts: list[str]) -> list[str | None]:
    """Just the answers, for scoring."""
    return [p.label for p in student_outputs(checkpoint, texts)]
