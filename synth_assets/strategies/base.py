"""What a strategy is: a prompt template, which seeds it applies to, and a parser for the reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.templates import render  # noqa: F401 (strategies fill their templates with it)

if TYPE_CHECKING:
    from synth_assets.spec import PipelineSpec, StrategySpec


@dataclass(frozen=True)
class Seed:
    """The fields of a seed row a strategy may use."""

    seed_id: str
    input: str
    target: str | None
    # Set only on rows that come from student errors (the LLM2LLM loop): what the student answered
    # instead of `target`. A seeds frame with a non-null `prediction` column marks those rows;
    # `error_driven` fires on them and nothing else does differently.
    prediction: str | None = None


@dataclass
class Parsed:
    """A teacher reply turned into a candidate training row (or an error saying why not)."""

    input: str | None
    target: str | None
    confidence: float | None = None
    label_scores: dict[str, float] | None = None
    error: str | None = None
    # the teacher's explanation of why `target` is right (rationale strategy); reaches train_set
    rationale: str | None = None
    # strategy-specific parsed parts kept for the filters and for inspection (expansions.parts, JSON)
    parts: dict[str, Any] | None = None


class Strategy(Protocol):
    """One module per strategy; `version` enters every cache key, so bump it when the prompt logic changes."""

    name: str
    version: str
    tasks: tuple[str, ...]  # the spec tasks ("classification", "math") it can serve
    # True when the row poses the seed's own question (maybe reworded), so its answer must be the
    # seed's answer; False when it writes a new question whose answer is its own
    same_problem: bool
    # the columns that make two rows the same training example (exact dedup compares these)
    dedup_on: tuple[str, ...]
    # the placeholders its prompt templates are filled with (a user's prompt may use only these)
    placeholders: tuple[str, ...]
    # whether the teacher re-labels the strategy's new texts unless the spec says (StrategySpec.verify_label)
    verify_label_default: bool
    # the teacher scores label words on the seed's own text: its rows label a text rather than write one
    scores_labels: bool = False

    def response_schema(self, task: str) -> type | None:
        """The pydantic model replies must match for this task, or None; failing replies are retried once."""
        ...

    def applies_to(self, seed: Seed) -> bool:
        """Whether this strategy makes requests for the seed (e.g. rephrase needs a labelled seed)."""
        ...

    def request(self, spec: PipelineSpec, cfg: StrategySpec, seed: Seed, sample_idx: int) -> GenerationRequest:
        """The teacher call for one (seed, sample)."""
        ...

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        """The candidate row made from a reply; malformed replies give `error`, never an exception."""
        ...


def sampling_params(spec: PipelineSpec, cfg: StrategySpec, sample_idx: int) -> SamplingParams:
    """Teacher defaults overridden per strategy; each sample gets its own seed so samples differ."""
    temperature = cfg.temperature if cfg.temperature is not None else spec.teacher.temperature
    if cfg.samples > 1 and temperature == 0.0:
        # several greedy samples would be identical: sampling is what makes them worth paying for
        temperature = 0.7
    return SamplingParams(
        max_new_tokens=cfg.max_new_tokens or spec.teacher.max_new_tokens,
        temperature=temperature,
        top_p=spec.teacher.top_p,
        seed=spec.teacher.seed + sample_idx,
        top_logprobs=cfg.top_logprobs,
    )
