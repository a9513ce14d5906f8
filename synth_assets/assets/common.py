"""What every asset builder needs: the spec, the warehouse root, key and resource naming."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from dagster import AssetCheckExecutionContext, AssetExecutionContext, AssetKey

from synth_assets.inference.budget import Budget, teacher_budget
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.resources import TeacherResource
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import PipelineSpec
from synth_assets.storage.location import Location
from synth_assets.storage.parquet import scan_table, table_path

TABLE_KINDS = {"polars", "parquet", "duckdb"}
ROUNDS_VERSION = "2"  # 2: active pool labels, label checks, student-aware verdicts


@dataclass(frozen=True)
class Build:
    """One pipeline's naming: asset keys <pipeline>/<table>, resources <pipeline>_teacher."""

    spec: PipelineSpec
    root: Location  # the warehouse: a folder or an s3:// prefix

    @property
    def group(self) -> str:
        return self.spec.name

    def key(self, table: str, round_: int = 0) -> AssetKey:
        """<pipeline>/<table>, and <pipeline>/<table>_r<r> for round r of the error-driven loop."""
        return AssetKey([self.spec.name, table if round_ == 0 else f"{table}_r{round_}"])

    def checked_table(self, context: AssetCheckExecutionContext, table: str) -> pl.LazyFrame:
        """The table an asset check judges, as a lazy scan (its shard's file for a partitioned check).

        A check reads the columns it judges, not the table: a million-row filtered table is never
        loaded whole to count two of its columns.
        """
        partition = context.partition_key if context.has_partition_key else None
        return scan_table(table_path(self.root, [self.spec.name, table], partition))

    @property
    def rounds(self) -> range:
        """Round 0 and every configured error-driven round: each builds the same stages."""
        return range(self.spec.rounds.max_rounds + 1)

    def round_version(self, r: int) -> str:
        """What every round-r asset's code version starts with: the rounds logic and its spec section."""
        return f"{ROUNDS_VERSION}-{self.spec.section_hash('rounds')}"

    def teacher(self, context: AssetExecutionContext, budget: Budget | None = None) -> TeacherSession:
        """The pipeline's teacher for this run, counting against `budget` (default: the spec's)."""
        resource: TeacherResource = getattr(context.resources, self.teacher_key)
        return resource.session(TeacherCache(self.root), budget or teacher_budget(self.spec))

    def judge(self, context: AssetExecutionContext, budget: Budget) -> TeacherSession:
        """The judge for this run: its own model when filters.judge.teacher names one, else the teacher."""
        resource: TeacherResource = getattr(context.resources, self.judge_resource_key)
        return resource.session(TeacherCache(self.root), budget)

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

    @property
    def judge_resource_key(self) -> str:
        """The resource the judge's calls go to: its own model, or the teacher."""
        return self.judge_key if self.spec.filters.judge.teacher is not None else self.teacher_key
