"""What one filter declares, so that apply.py runs them all in one loop and adding a filter is adding a file.

A filter module declares one FilterStep: the `filters.<section>` of the spec it reads, the inputs it
needs besides the frame, the verdict columns it adds to `filtered` (name → dtype), scratch columns
it adds for its own use, and the reject reasons it gives. Its `run` gets the frame, the rows still
eligible (rejected by no earlier step) and the inputs, and hands back a Verdict.

The frame is the whole expansions table, so a step never copies it: it reads the columns it needs
(`rows_where`) and hangs its verdicts on by row_id (`attach`), which shares the frame's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from synth_assets.filters.embeddings import TextEmbedder
    from synth_assets.filters.student_aware import StudentPredict
    from synth_assets.spec import PipelineSpec
    from synth_assets.spec_filters import FiltersSpec


def rows_where(df: pl.DataFrame, keep: pl.Expr, *columns: str) -> pl.DataFrame:
    """`columns` of the rows where `keep` holds: the selection first, so only those columns are copied."""
    return df.select(*columns, keep.alias("_keep")).filter(pl.col("_keep")).drop("_keep")


# rows an expression that builds text (a normalised copy of `input`) is evaluated over at a time
EXPR_SLICE_ROWS = 100_000


def sliced(df: pl.DataFrame, per_slice: Callable[[pl.DataFrame], pl.DataFrame], rows: int = EXPR_SLICE_ROWS) -> pl.DataFrame:
    """`per_slice` over `df` a slice of rows at a time, the results stacked: what it builds on the way (a
    normalised text to hash) is held for one slice, not for a million rows. Only for row-wise work: each
    slice sees only its rows. An empty frame is one empty slice, so the result has its columns."""
    return pl.concat([per_slice(df.slice(lo, rows)) for lo in range(0, max(df.height, 1), rows)], rechunk=False)


def attach(df: pl.DataFrame, verdicts: pl.DataFrame, on: str = "row_id") -> pl.DataFrame:
    """`df` with `verdicts`' columns joined by `on` (null where a row has none), without copying df's own columns."""
    joined = df.select(on).join(verdicts, on=on, how="left", maintain_order="left")
    if joined.height != df.height:
        raise ValueError(f"verdicts hold {on} values more than once: {joined.height} rows for {df.height}")
    return df.hstack(joined.drop(on).get_columns())


@dataclass(frozen=True)
class FilterInputs:
    """What the steps read besides the frame: the run's other tables, and the models they call (injected, never built)."""

    spec: PipelineSpec
    seeds: pl.LazyFrame  # every seed, read a few columns at a time (a million-row pool's texts never at once)
    labelled_seeds: pl.DataFrame  # the seeds with a target: what dedups compare against
    threshold: float | None  # the teacher-label margin the labelled seeds justify (None: no teacher label is trusted)
    eval_set: pl.DataFrame | None = None
    embedder: TextEmbedder | None = None
    judgements: pl.DataFrame | None = None
    student: StudentPredict | None = None


@dataclass(frozen=True)
class Verdict:
    """What a step hands back: the frame with its columns, why it rejects a row (null: it does not), the rows it keeps."""

    df: pl.DataFrame
    reason: pl.Expr
    keeps: pl.Expr  # narrows `eligible` for the later steps


@dataclass(frozen=True)
class FilterStep:
    """One filter, as the loop in apply.py sees it."""

    name: str
    run: Callable[[pl.DataFrame, pl.Expr, FilterInputs], Verdict]
    # the reasons it writes into reject_reason (a reason may go on after ": " with detail)
    reasons: tuple[str, ...]
    section: str | None = None  # the `filters.<section>` it reads; None: no section of its own, always on
    needs: tuple[str, ...] = ()  # FilterInputs fields it reads; without one of them it judges nothing
    columns: Mapping[str, pl.DataType] = field(default_factory=dict)  # the verdict columns it adds to `filtered`
    scratch: tuple[str, ...] = ()  # columns it adds for its reason; dropped once reject_reason is decided
    # whether the section turns it on (default: its `enabled`, or the section itself when it is a bool)
    switch: Callable[[FiltersSpec], bool] | None = None
    # an off step's columns are there as nulls, so `filtered` keeps one shape; a filter added after that
    # shape was fixed says False: its columns appear only when it is on, and older tables stay as they were
    columns_when_off: bool = True

    def enabled(self, inputs: FilterInputs) -> bool:
        """Whether the step judges this run: its section turns it on and every input it needs was given."""
        if any(getattr(inputs, need) is None for need in self.needs):
            return False
        if self.switch is not None:
            return self.switch(inputs.spec.filters)
        if self.section is None:
            return True
        section = getattr(inputs.spec.filters, self.section)
        return section if isinstance(section, bool) else getattr(section, "enabled", True)

    def off(self, df: pl.DataFrame) -> pl.DataFrame:
        """The frame as it is when this step does not run: its columns null (or absent, see columns_when_off)."""
        if not self.columns_when_off:
            return df
        return df.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in self.columns.items())
