"""Student classifiers behind one protocol; torch, transformers and sklearn load only when one runs."""

from __future__ import annotations

from collections.abc import Callable

from synth_assets.training.base import CAUSAL_LM_KIND, Classifier, Prediction, TrainConfig, TrainReport
from synth_assets.training.encoder_classifier import EncoderClassifier
from synth_assets.training.tfidf_classifier import TfidfClassifier

# kind -> factory; a new student is one module plus one line here.
_REGISTRY: dict[str, Callable[[], Classifier]] = {
    EncoderClassifier.kind: EncoderClassifier,
    TfidfClassifier.kind: TfidfClassifier,
}
KINDS: tuple[str, ...] = tuple(sorted(_REGISTRY))


def get_classifier(kind: str) -> Classifier:
    """The classifier for a TrainConfig.kind, so callers never import implementation modules."""
    try:
        return _REGISTRY[kind]()
    except KeyError:
        if kind == CAUSAL_LM_KIND:  # a student that answers in text, with its own train/predict pair
            raise ValueError(
                f"{kind!r} is not a classifier; use synth_assets.training.causal_lm.train_causal_lm and predict"
            ) from None
        raise ValueError(f"unknown classifier kind {kind!r}; valid kinds: {', '.join(KINDS)}") from None


__all__ = ["KINDS", "Classifier", "Prediction", "TrainConfig", "TrainReport", "get_classifier"]
