"""What a strategy is: a prompt template, which seeds it applies to, and a parser for the reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from synth_assets.inference.base import GenerationRequest, GenerationResult, SamplingParams
from synth_assets.strategy_catalog import STRATEGY_CATALOG
from synth_assets.templates import render

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


class Strategy:
    """One module per strategy, a subclass overriding only what differs from these defaults.

    `version` enters every cache key, so bump it when the prompt logic changes. What the spec checks
    about a strategy (its tasks, its prompt's placeholders, same_problem, verify_label_default) is
    its entry in synth_assets/strategy_catalog.py, set on the class when it is defined.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    tasks: ClassVar[tuple[str, ...]]  # the spec tasks ("classification", "math") it can serve
    # True when the row poses the seed's own question (maybe reworded), so its answer must be the
    # seed's answer; False when it writes a new question whose answer is its own
    same_problem: ClassVar[bool]
    # the columns that make two rows the same training example (exact dedup compares these)
    dedup_on: ClassVar[tuple[str, ...]] = ("input",)
    # the placeholders its prompt templates are filled with (a user's prompt may use only these)
    placeholders: ClassVar[tuple[str, ...]]
    # whether, in a classification task, the teacher re-labels the strategy's new texts unless the spec says
    # (StrategySpec.verify_label; PipelineSpec.checks_label resolves it)
    verify_label_default: ClassVar[bool]
    # the teacher scores label words on the seed's own text: its rows label a text rather than write one
    scores_labels: bool = False
    # its prompt, and the one for a math task where that differs; a spec's strategies.N.prompt replaces both
    template: ClassVar[str]
    math_template: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        info = STRATEGY_CATALOG[cls.name]  # a strategy the spec cannot name could never run
        cls.tasks, cls.placeholders = info.tasks, info.placeholders
        cls.same_problem, cls.verify_label_default = info.same_problem, info.verify_label_default

    def response_schema(self, task: str) -> type | None:
        """The pydantic model replies must match for this task, or None; failing replies are retried once."""
        return None

    def applies_to(self, seed: Seed) -> bool:
        """Whether this strategy makes requests for the seed; by default a labelled one (it keeps or builds on the label)."""
        return seed.target is not None

    def template_for(self, spec: PipelineSpec, cfg: StrategySpec) -> str:
        """The prompt to fill: the spec's for this strategy, else its own (the math one for a math task)."""
        if spec.task == "math" and self.math_template is not None:
            return cfg.prompt or self.math_template
        return cfg.prompt or self.template

    def fields(self, spec: PipelineSpec, seed: Seed) -> dict[str, str]:
        """The placeholder values for one seed; strategies with more placeholders add theirs."""
        return {"instruction": spec.instruction, "input": seed.input}

    def request(self, spec: PipelineSpec, cfg: StrategySpec, seed: Seed, sample_idx: int) -> GenerationRequest:
        """The teacher call for one (seed, sample): the filled prompt, sampled with the strategy's params."""
        prompt = render(self.template_for(spec, cfg), **self.fields(spec, seed))
        return GenerationRequest(messages=(("user", prompt),), params=sampling_params(spec, cfg, sample_idx))

    def parse(self, spec: PipelineSpec, seed: Seed, result: GenerationResult) -> Parsed:
        """The candidate row made from a reply; malformed replies give `error`, never an exception."""
        raise NotImplementedError


def target_word(spec: PipelineSpec, seed: Seed) -> str:
    """The seed's answer as a prompt names it: a math answer as it is, a label by its label word."""
    return (seed.target or "") if spec.task == "math" else spec.word_for(seed.target or "")


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
