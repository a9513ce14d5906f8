"""The MiniLM student fine-tunes on a tiny set, saves a dir that reloads identically, and repeats by seed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from synth_assets.training import Prediction, TrainConfig, TrainReport, get_classifier
from synth_assets.training.encoder_classifier import FittedEncoder, class_weights, fit, length_batches

LABELS = ["negative", "positive"]
# Small batches give 30 optimiser steps on 24 rows: enough to separate the set in ~6 s on 2 cores.
CONFIG = TrainConfig(kind="encoder_classifier", epochs=5, learning_rate=1e-4, batch_size=4, max_length=32)


@pytest.fixture(scope="module")
def trained(
    sentiment: tuple[list[str], list[str]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[FittedEncoder, TrainReport, Path]:
    texts, labels = sentiment
    fitted, report = fit(texts, labels, LABELS, CONFIG)
    out = tmp_path_factory.mktemp("encoder")
    fitted.save(out, CONFIG)
    return fitted, report, out


def test_class_weights_are_inverse_frequency() -> None:
    # 3 "a" and 1 "b" over 2 present classes: 4/(2*3) and 4/(2*1); absent "c" never enters the loss.
    assert class_weights(["a", "a", "a", "b"], ["a", "b", "c"]) == pytest.approx([2 / 3, 2.0, 0.0])


def test_length_batches_cover_every_row_once_and_keep_lengths_together() -> None:
    import torch

    lengths = [(i * 37) % 100 + 1 for i in range(200)]
    batches = length_batches(lengths, 4, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(200)) and len(batches) == 50
    # a batch pads to its longest row: sorted windows waste far less than random batches do
    def padded(bs: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) for b in bs)
    order = torch.randperm(200, generator=torch.Generator().manual_seed(0)).tolist()
    random = [order[k:k + 4] for k in range(0, 200, 4)]
    assert padded(batches) < 0.8 * padded(random)
    # the order of batches is shuffled, not sorted by length, and depends only on the generator
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)
    assert batches == length_batches(lengths, 4, torch.Generator().manual_seed(0))
    assert batches != length_batches(lengths, 4, torch.Generator().manual_seed(1))


def test_precision_enters_the_checkpoint_key_only_when_not_float32() -> None:
    from synth_assets.storage.checkpoints import checkpoint_key

    def key(config: TrainConfig) -> str:
        return checkpoint_key("v", config.as_dict(), config.base_model)
    assert "precision" not in CONFIG.as_dict()
    assert key(CONFIG) == key(TrainConfig(**{**CONFIG.__dict__, "precision": "float32"}))
    assert key(CONFIG) != key(TrainConfig(**{**CONFIG.__dict__, "precision": "bfloat16"}))


def test_label_outside_label_set_is_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'meh'"):
        get_classifier("encoder_classifier").train(["a", "b"], ["positive", "meh"], LABELS, CONFIG, tmp_path)


@pytest.mark.slow
def test_fits_the_training_set(
    trained: tuple[FittedEncoder, TrainReport, Path], sentiment: tuple[list[str], list[str]]
) -> None:
    fitted, report, _ = trained
    texts, labels = sentiment
    # An untrained two-way head sits near ln 2; below it means the loss really went down.
    assert math.isfinite(report.train_loss) and report.train_loss < 0.5 * math.log(2)
    assert report.steps == 30 and report.n_rows == 24 and report.seconds > 0
    preds = fitted.predict(texts)
    accuracy = sum(p.label == label for p, label in zip(preds, labels)) / len(labels)
    assert accuracy >= 0.9


@pytest.mark.slow
def test_saved_dir_reloads_with_identical_predictions(
    trained: tuple[FittedEncoder, TrainReport, Path], sentiment: tuple[list[str], list[str]]
) -> None:
    fitted, _, out = trained
    texts = sentiment[0] + ["a lovely film", "a dreadful film"]
    in_memory = fitted.predict(texts, batch_size=8)
    reloaded = get_classifier("encoder_classifier").predict(out, texts, batch_size=5)
    assert [p.label for p in reloaded] == [p.label for p in in_memory]
    for a, b in zip(reloaded, in_memory):
        assert list(a.probs) == LABELS
        assert sum(a.probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert a.probs == pytest.approx(b.probs, abs=1e-4)
    assert {"config.json", "model.safetensors", "tokenizer.json", "labels.json"} <= {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_same_seed_gives_same_loss(
    trained: tuple[FittedEncoder, TrainReport, Path], sentiment: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    texts, labels = sentiment
    report = get_classifier("encoder_classifier").train(texts, labels, LABELS, CONFIG, tmp_path)
    assert report.train_loss == pytest.approx(trained[1].train_loss, abs=1e-6)


@pytest.mark.slow
def test_one_row_and_absent_labels_still_predict_over_the_full_label_set(tmp_path: Path) -> None:
    label_set = ["negative", "neutral", "positive"]
    config = TrainConfig(kind="encoder_classifier", epochs=1, max_length=16)
    classifier = get_classifier("encoder_classifier")
    report = classifier.train(["I love it"], ["positive"], label_set, config, tmp_path)
    assert report.steps == 1 and math.isfinite(report.train_loss)
    [pred] = classifier.predict(tmp_path, ["what a day"])
    assert isinstance(pred, Prediction)
    assert list(pred.probs) == label_set and pred.label in label_set
    assert sum(pred.probs.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_bf16_autocast_trains_and_reloads_in_bf16(sentiment: tuple[list[str], list[str]], tmp_path: Path) -> None:
    texts, labels = sentiment
    config = TrainConfig(**{**CONFIG.__dict__, "precision": "bfloat16"})
    classifier = get_classifier("encoder_classifier")
    report = classifier.train(texts, labels, LABELS, config, tmp_path)
    assert report.train_loss < 0.5 * math.log(2)
    reloaded = get_classifier("encoder_classifier")
    from synth_assets.training.encoder_classifier import load

    assert load(tmp_path).precision == "bfloat16"
    preds = reloaded.predict(tmp_path, texts)
    assert sum(p.label == label for p, label in zip(preds, labels)) / len(labels) >= 0.9
