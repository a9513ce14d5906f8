"""The registry resolves kinds, and importing the package stays free of torch/transformers/sklearn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synth_assets.training import KINDS, TRAINER_KINDS, Classifier, TrainConfig, Trainer, get_classifier, get_trainer


@pytest.mark.parametrize("kind", ["encoder_classifier", "tfidf_logreg"])
def test_get_classifier_returns_a_classifier_of_that_kind(kind: str) -> None:
    classifier = get_classifier(kind)
    assert isinstance(classifier, Classifier)
    assert classifier.kind == kind


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as err:
        get_classifier("svm")
    message = str(err.value)
    assert "'svm'" in message
    for kind in KINDS:
        assert kind in message


def test_train_config_as_dict_holds_every_field() -> None:
    config = TrainConfig(kind="tfidf_logreg", seed=3)
    assert config.as_dict() == {
        "kind": "tfidf_logreg",
        "base_model": "embedded:all-minilm-l6-v2",
        "epochs": 4,
        "learning_rate": 5e-5,
        "batch_size": 16,
        "max_length": 128,
        "seed": 3,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
    }


def test_causal_lm_kind_points_to_its_own_train_function() -> None:
    with pytest.raises(ValueError, match="train_causal_lm"):
        get_classifier("causal_lm")


def test_importing_training_does_not_import_heavy_libraries() -> None:
    # A fresh interpreter: this test process may already have torch loaded by other tests.
    code = (
        "import sys, synth_assets.training, synth_assets.training.encoder_classifier, "
        "synth_assets.training.tfidf_classifier, synth_assets.training.causal_lm, synth_assets.training.sft_data\n"
        "print(','.join(m for m in ('torch', 'transformers', 'sklearn', 'peft') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("kind", ["encoder_classifier", "tfidf_logreg", "causal_lm"])
def test_get_trainer_covers_every_student_kind(kind: str) -> None:
    trainer = get_trainer(kind)
    assert isinstance(trainer, Trainer)
    assert trainer.kind == kind
    assert kind in TRAINER_KINDS
    with pytest.raises(ValueError, match="'svm'.*causal_lm"):
        get_trainer("svm")


def test_every_kind_trains_through_the_same_call(tmp_path: Path) -> None:
    texts, targets = ["great stuff", "awful stuff", "great fun", "awful fun"], ["pos", "neg", "pos", "neg"]
    report = get_trainer("tfidf_logreg").train(texts, targets, ["neg", "pos"], TrainConfig(kind="tfidf_logreg"), tmp_path)
    assert report.n_rows == 4
    assert [p.label for p in get_classifier("tfidf_logreg").predict(tmp_path, ["great"])] == ["pos"]
    # the causal LM checks its config before loading any model: the same call, a wrong kind, a named field
    with pytest.raises(ValueError, match="TrainConfig.kind"):
        get_trainer("causal_lm").train(texts, targets, None, TrainConfig(kind="tfidf_logreg"), tmp_path)
