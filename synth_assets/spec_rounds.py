"""The rounds section of a pipeline spec: error-driven rounds (LLM2LLM), active selection (PGKD), the gap mixture (DDK).

Strict pydantic models like the other sections; `synth_assets.spec` checks what needs the rest of
the spec (the task, the label strategy) and re-exports them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from synth_assets.spec_sections import StrategySpec, _Strict

MIXTURE_SLICES = ("label", "source_file")


class ActiveSpec(_Strict):
    """Active learning on the unlabelled pool (PGKD): each round the teacher labels the rows the student is least sure of."""

    pool_rows: int = Field(0, ge=0)  # per round; 0: off
    # margin: smallest gap between the student's two most likely labels; entropy: the most spread-out
    # distribution; random: a stable random sample, the baseline an uncertainty measure has to beat
    selection: Literal["margin", "entropy", "random"] = "margin"


class MixtureSpec(_Strict):
    """A round's error budget split across slices of the seeds by the teacher − student gap on each (DDK).

    share_s = (max(gap_s, 0) + smoothing) / Σ (max(gap, 0) + smoothing): a slice where the student
    trails the teacher most gets most of the round's `seeds_per_round` errors, and no slice drops to 0.
    """

    # what a slice is: the seed's label, or the seed file it came from (the seeds table keeps no other column)
    by: Literal["label", "source_file"] = "label"
    mode: Literal["gap"] = "gap"
    seeds_per_round: int = Field(ge=1)  # student errors expanded per round, each rounds.strategy.samples calls
    # added to every slice's gap before normalising: the floor that keeps a slice the student already matches in play
    smoothing: float = Field(0.05, gt=0.0, le=10.0)

    @field_validator("by", mode="before")
    @classmethod
    def _slice_column(cls, by: object) -> object:
        if by not in MIXTURE_SLICES:
            raise ValueError(f"{by!r} is not a slice synth can read; use one of {', '.join(MIXTURE_SLICES)} "
                             "(the seeds table keeps seed_id, input, target, source_file, source_row)")
        return by


class RoundsSpec(_Strict):
    """Error-driven rounds (LLM2LLM): the student's mistakes on the labelled seeds seed the next expansions."""

    max_rounds: int = Field(0, ge=0, le=10)  # 0: no rounds after the first train set
    # the strategy applied to each wrongly predicted seed (it sees the seed, its target and the wrong prediction);
    # null: no error-driven expansion, the rounds only label the active pool
    strategy: StrategySpec | None = StrategySpec(name="error_driven", samples=2)
    # a seed also counts as an error when the student gives its true label less probability than this
    # (classifier students): small students often fit their seeds, yet stay unsure where they will fail
    uncertain_below: float = Field(0.0, ge=0.0, le=1.0)
    # stop early when the last round's student improved its accuracy on the labelled seeds by less than this
    min_improvement: float = Field(0.0, ge=0.0, le=1.0)
    # besides the error-driven expansions: teacher labels for the pool rows the current student is least sure of
    active: ActiveSpec = ActiveSpec()
    # null: every student error is expanded; set: only seeds_per_round of them, split across slices by the gap
    mixture: MixtureSpec | None = None
