"""Which rows the filters read differently: the teacher's label rows, and the new texts it re-labelled."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from synth_assets.spec import PipelineSpec
from synth_assets.strategies import STRATEGIES


def label_rows() -> pl.Expr:
    """Rows whose strategy scores label words on the seed's own text: they label a text rather than write one."""
    return pl.col("strategy").is_in([name for name, strategy in STRATEGIES.items() if strategy.scores_labels])


def checked_rows(spec: PipelineSpec, columns: Sequence[str]) -> pl.Expr:
    """Rows whose text the teacher re-labelled (verify_label): round 0 by its strategies, later rounds by rounds.strategy."""
    first = [cfg.name for cfg in spec.strategies if spec.checks_label(cfg)]
    later = [spec.rounds.strategy.name] if spec.rounds.strategy and spec.checks_label(spec.rounds.strategy) else []
    in_round = pl.col("round") if "round" in columns else pl.lit(0)
    strategy = pl.col("strategy")
    return ~label_rows() & pl.when(in_round == 0).then(strategy.is_in(first)).otherwise(strategy.is_in(later))
