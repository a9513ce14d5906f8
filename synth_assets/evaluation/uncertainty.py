"""How unsure a classifier student is of a text: what active selection of the unlabelled pool ranks by.

Margin sampling (Scheffer et al., 2001) takes the rows whose two most likely labels are closest,
i.e. the rows nearest the student's decision boundary; entropy takes the most spread-out label
distributions (they agree for two labels). `random` is the baseline both have to beat.
"""

from __future__ import annotations

import math

from synth_assets.hashing import stable_hash
from synth_assets.training.base import Prediction

SELECTIONS = ("margin", "entropy", "random")


def uncertainty(pred: Prediction, selection: str) -> float:
    """Higher is less sure: 1 - (p1 - p2) for margin, Shannon entropy (nats) for entropy."""
    probs = sorted(pred.probs.values(), reverse=True)
    if selection == "margin":
        return 1.0 - (probs[0] - (probs[1] if len(probs) > 1 else 0.0))
    if selection == "entropy":
        return -sum(p * math.log(p) for p in probs if p > 0)
    raise ValueError(f"unknown selection {selection!r}; choose one of {SELECTIONS}")


def most_uncertain(ids: list[str], preds: list[Prediction] | None, selection: str, n: int, salt: str) -> list[tuple[str, float | None]]:
    """The n ids to label next, most uncertain first (random: a stable shuffle keyed by `salt`), with their score."""
    if selection == "random" or preds is None:
        order = sorted(ids, key=lambda i: stable_hash(i, salt))
        return [(i, None) for i in order[:n]]
    scored = sorted(((uncertainty(p, selection), i) for i, p in zip(ids, preds)), key=lambda t: (-t[0], t[1]))
    return [(i, u) for u, i in scored[:n]]
