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
    def teacher_key(self) -> str:
        return f"{self.spec.name}_teacher"

    @property
    def judge_key(self) -> str:
        """The judge's own resource, used only when filters.judge.teacher names a model other than the teacher's."""
        return f"{self.spec.name}_judge"
