"""Classification metrics, from scikit-learn so they match what users compute elsewhere."""

from __future__ import annotations


def classification_metrics(y_true: list[str], y_pred: list[str | None], labels: list[str], metrics: list[str]) -> dict[str, float]:
    """Each requested metric; a missing prediction counts as wrong."""
    from sklearn.metrics import accuracy_score, f1_score

    pred = [p if p is not None else "<none>" for p in y_pred]
    out: dict[str, float] = {}
    if "accuracy" in metrics:
        out["accuracy"] = float(accuracy_score(y_true, pred))
    if "macro_f1" in metrics:
        out["macro_f1"] = float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0))
    return out
