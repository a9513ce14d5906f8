"""Soft targets and row weights for classifier students: one loss, shared by both classifiers.

Row i has a target distribution p_i over the labels (the teacher's, calibrated and softened at T in
train_set; one-hot on its label for seeds and for rows the teacher never scored), its hard label y_i
(the row's `target`: the gold label, or the teacher's argmax of p_i), and a weight
r_i = w_i × c(y_i): its confidence weight w_i (1 without one) times the class-balance weight of its
hard label (sklearn's "balanced", as in hard-label training). Both classifiers minimise

    L = Σ_i r_i · [α · H(p_i, q_i) + (1 − α) · CE(q_i, y_i)] / Σ_i r_i,    H(p, q) = −Σ_k p_k · log q_k

where q_i is the student's softmax. The soft term is the standard soft cross-entropy; it has the
gradient of α · KL(p_i ‖ q_i) (the two differ by the constant α · H(p_i)). For a one-hot row both
terms are its cross-entropy, so a labelled seed trains as in a hard-label run. The student's logits
are not softened (so no T² factor): T shapes only the teacher's target. L is also the cross-entropy
against the mixed target t_i = α · p_i + (1 − α) · onehot(y_i), which is how the TF-IDF student,
whose logistic regression takes no soft targets, fits it: one row per label k with weight r_i · t_ik.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

PROB_TOLERANCE = 1e-6  # how far a target distribution may sum from 1 (floats written to Parquet and back)


def class_weights(labels: list[str], label_set: list[str]) -> list[float]:
    """Inverse-frequency weights (sklearn's "balanced") so a skewed train set can't collapse to the majority."""
    counts = {name: 0 for name in label_set}
    for label in labels:
        counts[label] += 1
    present = sum(1 for c in counts.values() if c)
    # A class absent from training is never a target, so its weight never enters the loss; 0 says so.
    return [len(labels) / (present * counts[name]) if counts[name] else 0.0 for name in label_set]


@dataclass(frozen=True)
class SoftRows:
    """What a soft or weighted fit reads per row: target distribution (label-set order), hard label index, weight r_i."""

    probs: list[list[float]]
    hard: list[int]
    row_weights: list[float]  # w_i: the row's own weight (confidence), 1 without one
    balance: list[float]  # c(y_i): the class-balance weight of the row's hard label

    @property
    def weights(self) -> list[float]:
        """r_i = w_i · c(y_i), the weight of row i in the loss."""
        return [w * c for w, c in zip(self.row_weights, self.balance)]

    def mixed(self, alpha: float) -> list[list[float]]:
        """t_i = α · p_i + (1 − α) · onehot(y_i): the one target both loss terms together amount to."""
        return [[alpha * p + (1 - alpha) * (k == y) for k, p in enumerate(row)] for row, y in zip(self.probs, self.hard)]


def soft_rows(targets: list[str], label_set: list[str], target_probs: list[list[float]] | None,
              weights: list[float] | None) -> SoftRows:
    """Check the soft targets and weights row by row (naming the row) and combine them with class balance."""
    n, k = len(targets), len(label_set)
    index = {name: i for i, name in enumerate(label_set)}
    probs = target_probs if target_probs is not None else [[float(j == index[t]) for j in range(k)] for t in targets]
    row_weights = weights if weights is not None else [1.0] * n
    if len(probs) != n or len(row_weights) != n:
        raise ValueError(f"got {n} targets, {len(probs)} target_probs and {len(row_weights)} weights; they must pair up row by row")
    for row, p in enumerate(probs):
        if len(p) != k or any(not math.isfinite(v) or v < 0 for v in p) or abs(sum(p) - 1.0) > PROB_TOLERANCE:
            raise ValueError(f"row {row}: target_probs {p} is not a distribution over the {k} labels {label_set} "
                             "(non-negative, summing to 1, in label order)")
    for row, w in enumerate(row_weights):
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"row {row}: weight {w} must be a finite number >= 0")
    if not any(row_weights):
        raise ValueError("every row has weight 0; a student needs at least one row that counts")
    balance = class_weights(targets, label_set)
    hard = [index[t] for t in targets]
    return SoftRows([list(map(float, p)) for p in probs], hard, list(map(float, row_weights)), [balance[y] for y in hard])


def distill_loss(logits: Any, probs: Any, hard: Any, weights: Any, alpha: float) -> Any:
    """The module's L on one batch (torch tensors: logits and probs N×K, hard N, weights N), as the encoder minimises it."""
    import torch

    log_q = torch.log_softmax(logits.float(), dim=-1)
    soft = -(probs * log_q).sum(dim=-1)
    hard_ce = -log_q.gather(1, hard.unsqueeze(1)).squeeze(1)
    per_row = alpha * soft + (1 - alpha) * hard_ce
    # a batch whose rows all weigh 0 contributes nothing rather than 0/0
    return (weights * per_row).sum() / weights.sum().clamp_min(1e-12)
