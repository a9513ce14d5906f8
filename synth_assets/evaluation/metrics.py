"""Task metrics: classification from scikit-learn (so they match what users compute elsewhere), math by answer."""

from __future__ import annotations

from synth_assets.answers import extract_number, numbers_match


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


def math_metrics(y_true: list[str], y_pred: list[str | None], metrics: list[str]) -> dict[str, float]:
    """numeric_match: the reply's answer equals the target as a number; exact_match: the whole reply is just it."""
    n = len(y_true) or 1
    out: dict[str, float] = {}
    if "numeric_match" in metrics:
        out["numeric_match"] = sum(numbers_match(p, t) for p, t in zip(y_pred, y_true)) / n
    if "exact_match" in metrics:
        out["exact_match"] = sum(p is not None and p.strip() == (extract_number(t) or t).strip()
                                 for p, t in zip(y_pred, y_true)) / n
    return out
