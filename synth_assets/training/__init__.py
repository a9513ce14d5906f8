"""Students behind one Trainer protocol; torch, transformers and sklearn load only when one runs."""

from __future__ import annotations

from collections.abc import Callable

from synth_assets.student_kinds import CAUSAL_LM_KIND
from synth_assets.training.base import Classifier, Prediction, TrainConfig, Trainer, TrainReport
from synth_assets.training.causal_lm import CausalLMTrainer
from synth_assets.training.encoder_classifier import EncoderClassifier
from synth_assets.training.tfidf_classifier import TfidfClassifier

# kind -> factory; a new student is one module plus one line here.
_REGISTRY: dict[str, Callable[[], Classifier]] = {
    EncoderClassifier.kind: EncoderClassifier,
    TfidfClassifier.kind: TfidfClassifier,
}
KINDS: tuple[str, ...] = tuple(sorted(_REGISTRY))
# every student kind trains the same way; only classifiers also predict labels with probabilities
_TRAINERS: dict[str, Callable[[], Trainer]] = {**_REGISTRY, CausalLMTrainer.kind: CausalLMTrainer}
TRAINER_KINDS: tuple[str, ...] = tuple(sorted(_TRAINERS))


def get_trainer(kind: str) -> Trainer:
    """The trainer for a TrainConfig.kind, causal LM included, so the checkpoint step makes one call for every kind."""
    try:
        return _TRAINERS[kind]()
    except KeyError:
        raise ValueError(f"unknown student kind {kind!r}; valid kinds: {', '.join(TRAINER_KINDS)}") from None


def get_classifier(kind: str) -> Classifier:
    """The classifier for a TrainConfig.kind, so callers never import implementation modules."""
    try:
        return _REGISTRY[kind]()
    except KeyError:
        if kind == CAUSAL_LM_KIND:  # a student that answers in text: it trains like any student, predicts text
            raise ValueError(
                f"{kind!r} is not a classifier; train it with get_trainer({kind!r}) (train_causal_lm) "
                "and answer with synth_assets.training.causal_lm.predict"
            ) from None
        raise ValueError(f"unknown classifier kind {kind!r}; valid kinds: {', '.join(KINDS)}") from None


__all__ = ["KINDS", "TRAINER_KINDS", "Classifier", "Prediction", "TrainConfig", "TrainReport", "Trainer",
           "get_classifier", "get_trainer"]
