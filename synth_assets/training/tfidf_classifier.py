"""TF-IDF + logistic regression: a cheap, real student used as the classic baseline and by fast tests."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from synth_assets.training.base import (
    Prediction,
    TrainConfig,
    TrainReport,
    check_train_inputs,
    read_labels,
    write_labels,
)
from synth_assets.training.soft_targets import SoftRows, soft_rows

KIND = "tfidf_logreg"
MODEL_FILE = "model.joblib"
logger = logging.getLogger("synth.training")


class TfidfClassifier:
    """Word 1-2 gram TF-IDF features into a class-balanced logistic regression."""

    kind = KIND

    def train(self, texts: list[str], targets: list[str], labels: list[str] | None, config: TrainConfig,
              out: Path, *, target_probs: list[list[float]] | None = None, weights: list[float] | None = None) -> TrainReport:
        """Fit in seconds on CPU; of the config only seed (and alpha, with soft targets) matters here.

        With `target_probs` and/or `weights` each row becomes one row per label, weighted as in soft_targets.
        """
        check_train_inputs(texts, targets, labels, config, KIND)
        label_set: list[str] = list(labels or [])
        if target_probs is not None or weights is not None:
            model, train_loss, seconds, steps = _fit_soft(texts, label_set, soft_rows(targets, label_set, target_probs, weights), config)
            _save(model, out, label_set, config)
            logger.info("%s trained on %d rows (soft targets, weighted) in %.1f s, train cross-entropy %.4f",
                        KIND, len(texts), seconds, train_loss)
            return TrainReport(train_loss=train_loss, seconds=seconds, steps=steps, n_rows=len(texts))
        from sklearn.dummy import DummyClassifier
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss
        from sklearn.pipeline import Pipeline

        start = time.perf_counter()
        if len(set(targets)) == 1:
            # LogisticRegression refuses a single class; a constant model is the honest fit and
            # keeps the saved dir and the predict path identical to the normal case.
            model = DummyClassifier(strategy="prior")
            model.fit([[0]] * len(texts), targets)
            steps = 0
        else:
            model = Pipeline(
                [
                    ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                    ("logreg", LogisticRegression(class_weight="balanced", max_iter=1000, random_state=config.seed)),
                ]
            )
            model.fit(texts, targets)
            steps = int(max(model.named_steps["logreg"].n_iter_))
        probs = _proba(model, texts)
        # Log loss over the training rows mirrors the encoder's mean cross-entropy, so the two compare.
        train_loss = float(log_loss(targets, probs, labels=list(model.classes_))) if len(model.classes_) > 1 else 0.0
        seconds = time.perf_counter() - start

        _save(model, out, label_set, config)
        logger.info("%s trained on %d rows in %.1f s, train log loss %.4f", KIND, len(texts), seconds, train_loss)
        return TrainReport(train_loss=train_loss, seconds=seconds, steps=steps, n_rows=len(texts))

    def predict(self, model_dir: Path, texts: list[str], batch_size: int = 64) -> list[Prediction]:
        """Probabilities over the full label set; labels absent from training get probability 0."""
        import joblib

        label_set = read_labels(model_dir, KIND)
        if not texts:
            return []
        model = joblib.load(Path(model_dir) / MODEL_FILE)
        classes = [str(c) for c in model.classes_]
        out: list[Prediction] = []
        # sklearn vectorises a whole list at once; batching only bounds peak memory on huge inputs.
        for i in range(0, len(texts), batch_size):
            for row in _proba(model, texts[i : i + batch_size]):
                probs = dict.fromkeys(label_set, 0.0)
                probs.update({c: float(p) for c, p in zip(classes, row)})
                out.append(Prediction(label=max(label_set, key=lambda name: probs[name]), probs=probs))
        return out


def _save(model: object, out: Path, label_set: list[str], config: TrainConfig) -> None:
    """The model and labels.json in `out`: all predict needs."""
    import joblib

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_dir / MODEL_FILE)
    write_labels(out_dir, KIND, label_set, config)


def _fit_soft(texts: list[str], label_set: list[str], soft: SoftRows, config: TrainConfig) -> tuple[object, float, float, int]:
    """Logistic regression on one row per (row, label k) weighted r_i · t_ik: soft cross-entropy through sample weights.

    Returns the model, its training cross-entropy against the mixed targets (rows weighted by w_i, as the
    hard fit reports its log loss), the seconds it took and the solver's iterations.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    start = time.perf_counter()
    mixed = soft.mixed(config.alpha)
    expanded = [(i, label_set[k], r * t) for i, (row, r) in enumerate(zip(mixed, soft.weights)) for k, t in enumerate(row)
                if r * t > 0]
    index, y, sample_weight = (list(col) for col in zip(*expanded))
    steps = 0
    if len(set(y)) == 1:  # as in the hard fit: one class is a constant model
        model: object = DummyClassifier(strategy="prior").fit([[0]] * len(y), y, sample_weight=sample_weight)
    else:
        # vocabulary and IDF come from each text once: repeating a row per label must not change them
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        features = tfidf.fit_transform(texts)
        # class balance is already in r_i (by hard label), so the solver adds none of its own
        logreg = LogisticRegression(max_iter=1000, random_state=config.seed)
        logreg.fit(features[index], y, sample_weight=sample_weight)
        model, steps = Pipeline([("tfidf", tfidf), ("logreg", logreg)]), int(max(logreg.n_iter_))
    classes = [str(c) for c in model.classes_]  # type: ignore[attr-defined]
    probs = [dict(zip(classes, row)) for row in _proba(model, texts)]
    losses = [-sum(t * math.log(max(p.get(name, 0.0), 1e-15)) for name, t in zip(label_set, row) if t > 0)
              for row, p in zip(mixed, probs)]
    loss = sum(w * v for w, v in zip(soft.row_weights, losses)) / sum(soft.row_weights)
    return model, loss, time.perf_counter() - start, steps


def _proba(model: object, texts: list[str]) -> list[list[float]]:
    """predict_proba for either model shape: the dummy ignores its features, so it gets placeholders."""
    from sklearn.dummy import DummyClassifier

    features = [[0]] * len(texts) if isinstance(model, DummyClassifier) else texts
    return model.predict_proba(features).tolist()  # type: ignore[attr-defined]
