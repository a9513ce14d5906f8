"""The one protocol every student trainer speaks (and classifiers' predict), plus the pieces all of them share."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from synth_assets.student_kinds import CAUSAL_LM_BASE_MODEL, CAUSAL_LM_FIELDS, CAUSAL_LM_KIND, ENCODER_BASE_MODEL

# Written next to every saved model so a model dir says what it is and which labels its outputs mean.
LABELS_FILE = "labels.json"


DISTILL_FIELDS = ("soft_labels", "temperature", "alpha")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes a trained student besides its data; all of it enters the checkpoint key."""

    kind: str  # "encoder_classifier" | "tfidf_logreg" | "causal_lm"
    base_model: str = ENCODER_BASE_MODEL  # a causal_lm config left at it gets CAUSAL_LM_BASE_MODEL
    epochs: int = 4
    learning_rate: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    seed: int = 0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    # causal_lm only (see CAUSAL_LM_FIELDS): how much of the model trains and for how long
    finetune: str = "lora"  # "lora" | "full"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("all-linear",)
    max_steps: int | None = None  # optimiser steps; when set it replaces epochs as the stopping rule
    grad_accum: int = 1
    # knowledge distillation (spec: student.distill); off, they stay out of the key, so hard-label keys are unchanged
    soft_labels: bool = False
    temperature: float = 1.0
    alpha: float = 0.5
    logits: bool = False  # causal_lm: token-level KD against the teacher's stored top-k (training/logit_kd.py)
    # encoder_classifier: "bfloat16" runs forward passes under bf16 autocast (fp32 weights and optimiser),
    # 2x faster on CPUs with native bf16; float32 stays out of the key, so existing keys are unchanged
    precision: str = "float32"

    def __post_init__(self) -> None:
        # MiniLM cannot generate text, so the encoder default would only fail later for a causal_lm student.
        if self.kind == CAUSAL_LM_KIND and self.base_model == ENCODER_BASE_MODEL:
            object.__setattr__(self, "base_model", CAUSAL_LM_BASE_MODEL)

    def as_dict(self) -> dict[str, Any]:
        fields = asdict(self)
        if self.kind != CAUSAL_LM_KIND:
            # The classifiers ignore these fields, so they stay out of their checkpoint keys: keys made
            # before the fields existed still match and existing checkpoints are reused.
            for name in CAUSAL_LM_FIELDS:
                del fields[name]
        else:
            fields["target_modules"] = list(self.target_modules)
        if not self.logits:
            del fields["logits"]
        if self.precision == "float32":
            del fields["precision"]
        if not self.soft_labels and not self.logits:
            # a student that learns only hard targets ignores the distillation settings
            for name in DISTILL_FIELDS:
                del fields[name]
        return fields


@dataclass
class TrainReport:
    """What a training run cost and how well it fit; stored in the student_checkpoint row."""

    train_loss: float
    seconds: float
    steps: int
    n_rows: int


@dataclass
class Prediction:
    """One text's predicted label plus a probability for every label of the label set (summing to 1)."""

    label: str
    probs: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Trainer(Protocol):
    """How the checkpoint step trains any student kind: one call, whatever the student answers with."""

    kind: str

    def train(self, texts: list[str], targets: list[str], labels: list[str] | None, config: TrainConfig,
              out: Path, *, target_probs: list[list[float]] | None = None,
              weights: list[float] | None = None) -> TrainReport:
        """Fit on (text, target) rows and write a self-contained model dir to `out` (exists, empty).

        `labels`: a classifier's label set, in the order of its outputs (every target must be one);
        a student that answers in free text (causal_lm) ignores it, so None or the spec's labels both do.
        `target_probs` (per row, in `labels` order) and `weights`: soft targets and row weights, which
        only classifiers learn from. The causal LM alone also takes `teacher_tokens` (per row the teacher's
        stored token distributions, or None) for logit distillation (config.logits).
        """
        ...


@runtime_checkable
class Classifier(Trainer, Protocol):
    """A student that predicts one of the labels with a probability for each; implemented by each classifier module."""

    def train(self, texts: list[str], targets: list[str], labels: list[str] | None, config: TrainConfig,
              out: Path, *, target_probs: list[list[float]] | None = None,
              weights: list[float] | None = None) -> TrainReport:
        """Trainer.train, plus what a classifier can learn beyond hard labels (training/soft_targets.py).

        `target_probs`: per row a distribution over `labels` (their order), e.g. the teacher's; `weights`:
        per row a weight >= 0 in the loss. Left None, the fit is the hard-label one, bit for bit.
        """
        ...

    def predict(self, model_dir: Path, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Load a dir written by `train` and return one prediction per text, in order."""
        ...


def check_train_inputs(
    texts: list[str], labels: list[str], label_set: list[str] | None, config: TrainConfig, kind: str
) -> None:
    """Fail before any expensive work, with a message that names the offending row or field."""
    if config.kind != kind:
        raise ValueError(
            f"TrainConfig.kind is {config.kind!r} but this classifier is {kind!r}; use get_trainer(config.kind)"
        )
    if len(texts) != len(labels):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} labels; they must pair up row by row")
    if not texts:
        raise ValueError("the train set is empty; a student needs at least one labelled row")
    if not label_set:
        raise ValueError("label_set is empty; pass every label the student may predict")
    if len(set(label_set)) != len(label_set):
        raise ValueError(f"label_set has duplicates: {label_set}; each label must appear once")
    known = set(label_set)
    for row, label in enumerate(labels):
        if label not in known:
            raise ValueError(
                f"row {row} has label {label!r}, which is not in label_set {label_set}; fix the row or add the label"
            )


def write_labels(out_dir: Path, kind: str, label_set: list[str], config: TrainConfig) -> None:
    """Record kind, label order and config beside the weights so the dir can be reloaded on its own."""
    payload = {"kind": kind, "labels": list(label_set), "config": config.as_dict()}
    (out_dir / LABELS_FILE).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")


def read_meta(model_dir: Path, kind: str) -> dict[str, Any]:
    """The labels.json payload of a saved model; refuses dirs written by another classifier kind."""
    path = Path(model_dir) / LABELS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; {model_dir} is not a model dir written by a synth classifier")
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("kind") != kind:
        found = payload.get("kind")
        raise ValueError(f"{model_dir} holds a {found!r} model, not {kind!r}; load it with get_classifier({found!r})")
    return payload


def read_labels(model_dir: Path, kind: str) -> list[str]:
    """The label order a saved model's outputs follow."""
    return list(read_meta(model_dir, kind)["labels"])
