"""Soft targets and row weights: the loss on a hand-computed example, and both classifiers learning from them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from synth_assets.training import TrainConfig, get_classifier
from synth_assets.training.soft_targets import distill_loss, soft_rows

LABELS = ["negative", "positive"]
SOFT = TrainConfig(kind="tfidf_logreg", soft_labels=True, alpha=1.0)


def _softmax(z: list[float]) -> list[float]:
    exps = [math.exp(v) for v in z]
    return [e / sum(exps) for e in exps]


def test_distill_loss_matches_the_formula_by_hand() -> None:
    import torch

    alpha = 0.25
    # row 0: a teacher distribution, hard label 0, weight 1; row 1: a one-hot (seed-like) row, weight 3
    logits = [[2.0, 0.0], [0.0, 1.0]]
    probs = [[0.7, 0.3], [0.0, 1.0]]
    q0, q1 = _softmax(logits[0]), _softmax(logits[1])
    soft0 = -(0.7 * math.log(q0[0]) + 0.3 * math.log(q0[1]))
    row0 = alpha * soft0 + (1 - alpha) * -math.log(q0[0])
    row1 = -math.log(q1[1])  # one-hot: the soft term and the hard term are the same cross-entropy
    expected = (1.0 * row0 + 3.0 * row1) / 4.0
    got = distill_loss(torch.tensor(logits), torch.tensor(probs), torch.tensor([0, 1]), torch.tensor([1.0, 3.0]), alpha)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # the soft term is KL(p || q) plus the teacher's entropy, a constant: same gradient as the KL form
    kl0 = 0.7 * math.log(0.7 / q0[0]) + 0.3 * math.log(0.3 / q0[1])
    assert soft0 - kl0 == pytest.approx(-(0.7 * math.log(0.7) + 0.3 * math.log(0.3)))


def test_soft_rows_weigh_by_confidence_and_class_balance() -> None:
    rows = soft_rows(["a", "a", "a", "b"], ["a", "b"], None, [1.0, 0.5, 1.0, 2.0])
    assert rows.probs == [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]] and rows.hard == [0, 0, 0, 1]
    # balanced: 4 / (2 * 3) for "a", 4 / (2 * 1) for "b"
    assert rows.weights == pytest.approx([2 / 3, 1 / 3, 2 / 3, 4.0])
    assert rows.mixed(0.5)[0] == [1.0, 0.0]


@pytest.mark.parametrize(("probs", "weights", "message"), [
    ([[0.5, 0.4], [0.0, 1.0]], None, "row 0: target_probs"),
    ([[0.5, 0.5]], None, "2 targets, 1 target_probs"),
    (None, [1.0, -1.0], "row 1: weight -1.0"),
    (None, [0.0, 0.0], "every row has weight 0"),
])
def test_bad_soft_targets_are_refused_by_row(probs, weights, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        soft_rows(["negative", "positive"], LABELS, probs, weights)


def test_encoder_objective_with_one_hot_targets_is_the_hard_loss() -> None:
    import torch

    from synth_assets.training.encoder_classifier import _objective

    labels = ["positive", "positive", "positive", "negative"]  # skewed: class balance matters
    logits = torch.tensor([[0.3, -0.2], [1.0, 0.5], [-0.4, 0.9], [0.2, 0.1]])
    idx = [0, 1, 2, 3]
    hard = _objective(labels, LABELS, torch.device("cpu"), None, 0.5)(idx, logits)
    one_hot = _objective(labels, LABELS, torch.device("cpu"), soft_rows(labels, LABELS, None, [1.0] * 4), 0.5)(idx, logits)
    assert one_hot.item() == pytest.approx(hard.item(), rel=1e-6)


def test_tfidf_one_hot_targets_fit_the_hard_model(tmp_path: Path, sentiment: tuple[list[str], list[str]]) -> None:
    texts, labels = sentiment
    classifier = get_classifier("tfidf_logreg")
    classifier.train(texts, labels, LABELS, TrainConfig(kind="tfidf_logreg"), tmp_path / "hard")
    one_hot = [[float(label == name) for name in LABELS] for label in labels]
    classifier.train(texts, labels, LABELS, SOFT, tmp_path / "soft", target_probs=one_hot)
    probe = ["a happy evening", "an awful evening", "a table"]
    hard = classifier.predict(tmp_path / "hard", probe)
    soft = classifier.predict(tmp_path / "soft", probe)
    for h, s in zip(hard, soft):
        assert s.probs == pytest.approx(h.probs, abs=1e-6)


def test_tfidf_learns_the_teachers_uncertainty(tmp_path: Path, sentiment: tuple[list[str], list[str]]) -> None:
    texts, labels = sentiment
    classifier = get_classifier("tfidf_logreg")
    # a teacher that is unsure about every row: with alpha 1 the student has nothing but that to learn
    report = classifier.train(texts, labels, LABELS, SOFT, tmp_path, target_probs=[[0.5, 0.5]] * len(texts))
    assert report.n_rows == len(texts) and report.train_loss == pytest.approx(math.log(2), abs=0.01)
    for pred in classifier.predict(tmp_path, texts[:3] + texts[-3:]):
        assert pred.probs["positive"] == pytest.approx(0.5, abs=0.02)
    sharp = get_classifier("tfidf_logreg")
    sharp.train(texts, labels, LABELS, TrainConfig(kind="tfidf_logreg"), tmp_path / "hard")
    assert sharp.predict(tmp_path / "hard", texts[:1])[0].probs["positive"] > 0.55  # hard labels: it leans


@pytest.mark.slow
def test_encoder_fits_soft_weighted_targets(sentiment: tuple[list[str], list[str]]) -> None:
    from synth_assets.training.encoder_classifier import fit

    texts, labels = sentiment
    config = TrainConfig(kind="encoder_classifier", epochs=5, learning_rate=1e-4, batch_size=4, max_length=32,
                         soft_labels=True, alpha=0.5)
    probs = [[0.1, 0.9] if label == "positive" else [0.8, 0.2] for label in labels]
    fitted, report = fit(texts, labels, LABELS, config, probs, [0.5 + 0.5 * (i % 2) for i in range(len(texts))])
    assert math.isfinite(report.train_loss) and report.steps == 30
    accuracy = sum(p.label == label for p, label in zip(fitted.predict(texts), labels)) / len(labels)
    assert accuracy >= 0.9
