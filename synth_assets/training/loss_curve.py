"""A student's training loss as a short curve for its checkpoint manifest: total, CE and KL per point."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CURVE_POINTS = 100  # at most about this many points, each the mean of the steps it covers


@dataclass
class LossCurve:
    """Steps go in one at a time; every `every` steps (and at the last) their means become one point."""

    total_steps: int
    points: list[dict[str, float | None]] = field(default_factory=list)
    _window: list[tuple[float, float, float | None]] = field(default_factory=list)

    @property
    def every(self) -> int:
        return max(1, math.ceil(self.total_steps / CURVE_POINTS))

    def add(self, step: int, loss: float, ce: float, kl: float | None) -> None:
        """Record optimiser step `step` (1-based): its loss, CE, and KL per aligned token (None without KD)."""
        self._window.append((loss, ce, kl))
        if step % self.every and step != self.total_steps:
            return
        kls = [k for _, _, k in self._window if k is not None]
        n = len(self._window)
        self.points.append({"step": step, "loss": sum(w[0] for w in self._window) / n,
                            "ce": sum(w[1] for w in self._window) / n, "kl": sum(kls) / len(kls) if kls else None})
        self._window = []
