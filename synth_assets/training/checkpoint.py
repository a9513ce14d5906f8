"""A trained student as a record: one row of a student_checkpoint table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    """Where a student's weights are, what kind it is, and what it was trained on (the checkpoint cache key)."""

    checkpoint_id: str
    variant: str  # seeds_only | synthetic
    round: int
    path: str
    kind: str
    base_model: str
    train_set_version: str
    config_hash: str
    n_rows: int
    train_loss: float | None
    steps: int | None
    seconds: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Checkpoint:
        """The record of a student_checkpoint row (extra columns ignored)."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    def row(self) -> dict[str, Any]:
        return asdict(self)
