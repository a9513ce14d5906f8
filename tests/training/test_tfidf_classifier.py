"""The TF-IDF baseline learns an obvious sentiment set and keeps the Classifier contract."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from synth_assets.training import TrainConfig, get_classifier

CONFIG = TrainConfig(kind="tfidf_logreg")
LABELS = ["negative", "positive"]


@pytest.fixture(scope="module")
def model_dir(sentiment: tuple[list[str], list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = sentiment
    out = tmp_path_factory.mktemp("tfidf")
    report = get_classifier("tfidf_logreg").train(texts, labels, LABELS, CONFIG, out)
    assert report.n_rows == len(texts)
    assert math.isfinite(report.train_loss) and report.train_loss < math.log(2)
    assert report.steps > 0
    return out


def test_learns_the_training_set_and_generalises(model_dir: Path, sentiment: tuple[list[str], list[str]]) -> None:
    texts, labels = sentiment
    classifier = get_classifier("tfidf_logreg")
    assert [p.label for p in classifier.predict(model_dir, texts)] == labels
    unseen = classifier.predict(model_dir, ["a happy, wonderful evening", "an awful, horrible evening"])
    assert [p.label for p in unseen] == ["positive", "negative"]


def test_probs_cover_the_label_set_and_sum_to_one(model_dir: Path) -> None:
    preds = get_classifier("tfidf_logreg").predict(model_dir, ["great", "terrible", "a table"], batch_size=2)
    assert len(preds) == 3
    for pred in preds:
        assert set(pred.probs) == set(LABELS)
        assert sum(pred.probs.values()) == pytest.approx(1.0)
        assert pred.label == max(pred.probs, key=pred.probs.__getitem__)


def test_label_absent_from_training_gets_zero_probability(
    tmp_path: Path, sentiment: tuple[list[str], list[str]]
) -> None:
    texts, labels = sentiment
    label_set = ["negative", "neutral", "positive"]
    classifier = get_classifier("tfidf_logreg")
    classifier.train(texts, labels, label_set, CONFIG, tmp_path)
    [pred] = classifier.predict(tmp_path, ["I love it"])
    assert list(pred.probs) == label_set
    assert pred.probs["neutral"] == 0.0
    assert pred.label == "positive"


def test_single_class_train_set_predicts_that_class(tmp_path: Path) -> None:
    classifier = get_classifier("tfidf_logreg")
    report = classifier.train(["fine", "ok"], ["positive", "positive"], LABELS, CONFIG, tmp_path)
    assert report.n_rows == 2
    preds = classifier.predict(tmp_path, ["anything at all", "terrible"])
    assert [p.label for p in preds] == ["positive", "positive"]
    assert preds[0].probs == {"negative": 0.0, "positive": 1.0}


def test_label_outside_label_set_is_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'meh'"):
        get_classifier("tfidf_logreg").train(["a", "b"], ["positive", "meh"], LABELS, CONFIG, tmp_path)


def test_config_of_another_kind_is_rejected(tmp_path: Path) -> None:
    config = TrainConfig(kind="encoder_classifier")
    with pytest.raises(ValueError, match="encoder_classifier"):
        get_classifier("tfidf_logreg").train(["a", "b"], LABELS, LABELS, config, tmp_path)


def test_predict_refuses_a_dir_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="labels.json"):
        get_classifier("tfidf_logreg").predict(tmp_path, ["hello"])


def test_predict_on_no_texts_returns_nothing(model_dir: Path) -> None:
    assert get_classifier("tfidf_logreg").predict(model_dir, []) == []
