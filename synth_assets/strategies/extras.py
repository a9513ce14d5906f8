"""What a follow-up call adds to an expansions row (self-consistency votes, a label check).

The follow-ups return these and `expand`, which owns the rows, applies them: no other module
edits an expansions row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synth_assets.inference.session import Cost


@dataclass(frozen=True)
class RowExtra:
    """Extra `parts` keys, the teacher's label scores of the row's text, and what those calls cost."""

    cost: Cost
    parts: dict[str, Any] = field(default_factory=dict)
    label_scores: dict[str, float] | None = None
    confidence: float | None = None
