"""What every asset builder needs: the spec, the warehouse root, key and resource naming."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey

from synth_assets.spec import PipelineSpec

TABLE_KINDS = {"polars", "parquet", "duckdb"}


@dataclass(frozen=True)
class Build:
    """One pipeline's naming: asset keys <pipeline>/<table>, resources <pipeline>_teacher."""

    spec: PipelineSpec
    root: Path

    @property
    def group(self) -> str:
        return self.spec.name

    def key(self, table: str) -> AssetKey:
        return AssetKey([self.spec.name, table])

    @property
    def strategy_versions(self) -> str:
        """Hash of the versions of every strategy the pipeline calls (eval labelling included): a strategy whose
        prompt logic changed changes its calls, so the assets that make them are stale."""
        from synth_assets.hashing import stable_hash
        from synth_assets.strategies import STRATEGIES

        names = {s.name for s in self.spec.strategies} | ({"label"} if self.spec.task == "classification" else set())
        if self.spec.rounds.strategy is not None and self.spec.rounds.max_rounds:
            names.add(self.spec.rounds.strategy.name)
        return stable_hash(sorted((n, STRATEGIES[n].version) for n in names), length=8)

    @property
    def teacher_key(self) -> str:
        return f"{self.spec.name}_teacher"

    @property
    def judge_key(self) -> str:
        """The judge's own resource, used only when filters.judge.teacher names a model other than the teacher's."""
        return f"{self.spec.name}_judge"
