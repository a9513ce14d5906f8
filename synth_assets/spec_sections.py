"""The sections of a pipeline spec (teacher, strategies, student, budget, ...); filters are in spec_filters, rounds in spec_rounds.

Each is a strict pydantic model: unknown keys are refused, bounds are checked, and the error names
the field. `synth_assets.spec` assembles them into PipelineSpec and loads YAML files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from synth_assets.strategy_catalog import STRATEGY_CATALOG, strategy_info
from synth_assets.student_kinds import CAUSAL_LM_BASE_MODEL, CAUSAL_LM_FIELDS
from synth_assets.templates import check_template

def url_problem(url: str) -> str | None:
    """Why `url` is not an http(s)://host[:port][/path] server address, or None when it is."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (reading it raises on a port that is not a number in range)
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "has no http:// or https:// scheme" if not parts.scheme or not parts.netloc else f"uses {parts.scheme}://, not http(s)://"
    if not parts.hostname:
        return "names no host"
    if parts.query or parts.fragment:
        return "carries a query or fragment, which the server API does not take"
    return None


def _server_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValueError(f"{url!r} {problem}; write it as http(s)://host[:port][/path], e.g. http://127.0.0.1:8000/v1")
    return url


ServerURL = Annotated[str, AfterValidator(_server_url)]


class _Strict(BaseModel):
    # Unknown keys are typos more often than not: reject them so they cannot be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """A table of rows on disk and which columns hold the input text and (optionally) the target."""

    path: str
    input: str = Field(min_length=1)
    target: str | None = None
    format: Literal["csv", "jsonl", "parquet"] | None = None

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        suffix = Path(self.path).suffix.lower().lstrip(".")
        return "jsonl" if suffix in ("jsonl", "ndjson", "json") else suffix


# the settings only some backends read (the rest: model, batching and sampling, every backend reads);
# tests/inference/test_resources.py holds this to the resources' own fields
BACKEND_SETTINGS: dict[str, tuple[str, ...]] = {
    "transformers": ("device", "dtype"),
    "vllm": ("tensor_parallel_size", "dtype", "gpu_memory_utilization", "max_model_len"),
    "openai": ("base_urls", "api_key_env", "concurrency", "timeout_s"),
    "fake": (),
}


class TeacherSpec(_Strict):
    """Which model labels and generates; every field here enters the teacher-call cache key."""

    backend: Literal["transformers", "vllm", "openai", "fake"] = "transformers"
    model: str = "embedded:smollm2-135m-instruct"
    # openai backend: a pool of OpenAI-compatible servers; the key comes from this env var, never the spec
    base_urls: list[ServerURL] = []
    api_key_env: str | None = None
    concurrency: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(60.0, gt=0)
    batch_size: int = Field(16, ge=1, le=1024)
    max_new_tokens: int = Field(96, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    device: str = "auto"
    # vllm backend (GPU): the offline engine's own knobs
    tensor_parallel_size: int = Field(1, ge=1, le=64)
    dtype: str = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = Field(None, ge=16)

    @model_validator(mode="after")
    def _server_given(self) -> TeacherSpec:
        if self.backend == "openai" and not self.base_urls:
            raise ValueError("base_urls: the openai backend needs at least one server URL, e.g. http://127.0.0.1:8000/v1")
        return self

    @model_validator(mode="after")
    def _settings_of_this_backend(self) -> TeacherSpec:
        # a setting of another backend would be silently ignored: the user meant some other backend, or nothing
        own = set(BACKEND_SETTINGS[self.backend])
        for name in sorted(self.model_fields_set - own):
            readers = [b for b, fields in BACKEND_SETTINGS.items() if name in fields]
            if readers:
                raise ValueError(f"{name}: only the {' and '.join(readers)} backend reads it, and this teacher's backend is "
                                 f"{self.backend!r}; remove {name} or set backend: {readers[0]}")
        return self


class StrategySpec(_Strict):
    """One way of asking the teacher for new training rows."""

    name: str
    samples: int = Field(1, ge=1, le=64)
    prompt: str | None = None  # overrides the strategy's built-in template
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    max_new_tokens: int | None = Field(None, ge=1, le=8192)
    # keep the teacher's k most likely tokens per generated position (expansions.token_logprobs) for logit distillation
    top_logprobs: int = Field(0, ge=0, le=20)
    # math strategies that write new problems: the teacher solves each one this many more times, and
    # the answers vote with the row's own (self-consistency, filters.consistency)
    votes: int = Field(0, ge=0, le=32)
    # label: teacher-label at most this many unlabelled pool rows, a stable sample (null: the whole pool);
    # labelled seeds are always labelled, since they measure the teacher. rounds.active labels more, chosen by the student.
    pool_rows: int | None = Field(None, ge=1)
    # classification strategies that write a text for a label: the teacher also scores the label words on
    # each new text, and the row is kept only when that label is its target, confidently (filters.confidence).
    # null: the strategy's own default, resolved by the pipeline (PipelineSpec.checks_label): on in a classification
    # task for every strategy that writes a new text (rephrase, new_question, error_driven, hard_negative), off otherwise
    verify_label: bool | None = None

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str | None, info: ValidationInfo) -> str | None:
        # a placeholder the strategy does not fill would reach the teacher literally, and a prompt
        # without {input} sends every seed the same text: both are refused here, at load
        name = info.data.get("name")
        if prompt is not None and name is not None:
            check_template(prompt, f"the {name} strategy", STRATEGY_CATALOG[name].placeholders)
        return prompt

    @model_validator(mode="after")
    def _label_options(self) -> StrategySpec:
        if self.pool_rows is not None and self.name != "label":
            raise ValueError(f"pool_rows: only the label strategy labels the unlabelled pool; remove it from {self.name!r}")
        if self.verify_label and self.name == "label":
            raise ValueError("verify_label: the label strategy's rows are the teacher's label scores already; remove it")
        return self

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        strategy_info(name)  # raises naming the known strategies
        return name


class ChecksSpec(_Strict):
    """Bounds for the asset checks shown in the UI; they only judge tables, so changing them recomputes nothing."""

    # accepted share of the filtered rows that could become training data: outside it, the filters
    # are likely too strict (nothing learned) or too loose (the teacher's noise passes through)
    acceptance_rate: tuple[float, float] = (0.05, 0.95)
    # share of teacher calls that may still fail after retries before expansions fails (blocking):
    # above it the dataset is mostly holes, and what the teacher did answer is not worth training on
    max_error_rate: float = Field(0.2, ge=0.0, le=1.0)

    @field_validator("acceptance_rate")
    @classmethod
    def _band(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"must be [low, high] with 0 <= low <= high <= 1, got [{low}, {high}]")
        return band


class DistillSpec(_Strict):
    """How a student learns from the teacher's distribution rather than only its argmax (knowledge distillation).

    soft_labels: classifier students train teacher-labelled rows on the teacher's (calibrated) label
    distribution at `temperature`; labelled seeds keep their gold label; `alpha` weighs the soft term
    against the hard cross-entropy.
    logits: a causal_lm student trains every teacher-written target token against the teacher's stored
    top-k distribution (strategies' top_logprobs), tail mass kept, mixed with the cross-entropy by `alpha`
    at `temperature`; the two tokenizers must share one vocabulary. `teacher_tokenizer`: a local dir or
    `embedded:` name of the teacher's tokenizer, for a teacher whose model name is not one (openai, fake).
    """

    # math strategies whose target is the teacher's own solution text, so its stored tokens can be the target's
    TEACHER_WRITTEN: ClassVar[tuple[str, ...]] = ("answer_augment", "revthink", "new_question", "error_driven")

    soft_labels: bool = False
    temperature: float = Field(1.0, gt=0.0, le=20.0)
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    logits: bool = False
    teacher_tokenizer: str | None = Field(None, min_length=1)


class StudentSpec(_Strict):
    """The cheaper model trained on train_set; its config is part of the checkpoint cache key."""

    kind: Literal["encoder_classifier", "tfidf_logreg", "causal_lm"] = "encoder_classifier"
    base_model: str = "embedded:all-minilm-l6-v2"
    epochs: int = Field(4, ge=1, le=100)
    learning_rate: float = Field(5e-5, gt=0.0, le=1.0)
    batch_size: int = Field(16, ge=1, le=1024)
    max_length: int = Field(128, ge=8, le=8192)
    seed: int = 0
    # causal_lm: supervised fine-tuning on (input, target) text, LoRA (adapter merged on save) or full
    finetune: Literal["lora", "full"] = "lora"
    lora_r: int = Field(8, ge=1, le=1024)
    lora_alpha: int = Field(16, ge=1, le=4096)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(["all-linear"], min_length=1)
    max_steps: int | None = Field(None, ge=1)
    grad_accum: int = Field(1, ge=1, le=1024)
    # encoder_classifier: bfloat16 runs its forward passes under bf16 autocast (weights and optimiser stay
    # float32): 2x faster training and prediction on CPUs with native bf16 (AVX512-BF16, AMX) and on GPUs
    precision: Literal["float32", "bfloat16"] = "float32"
    distill: DistillSpec = DistillSpec()

    @model_validator(mode="before")
    @classmethod
    def _causal_lm_base(cls, data: object) -> object:
        # MiniLM cannot generate text: a causal_lm student without a base_model starts from the embedded chat model.
        if isinstance(data, dict) and data.get("kind") == "causal_lm" and "base_model" not in data:
            return {**data, "base_model": CAUSAL_LM_BASE_MODEL}
        return data

    @model_validator(mode="after")
    def _causal_lm_fields(self) -> StudentSpec:
        if self.kind != "causal_lm":
            # set on another kind these would be silently ignored, so they are refused
            stray = [name for name in CAUSAL_LM_FIELDS if name in self.model_fields_set]
            if stray:
                raise ValueError(f"{', '.join(stray)}: only a causal_lm student reads these; "
                                 f"remove them or set kind: causal_lm (kind is {self.kind!r})")
        if self.precision != "float32" and self.kind != "encoder_classifier":
            raise ValueError(f"precision: only the encoder_classifier student trains under bf16 autocast; "
                             f"remove it for kind {self.kind!r}")
        return self


TASKS = ("classification", "math")
TASK_METRICS = {"classification": ("accuracy", "macro_f1"), "math": ("numeric_match", "exact_match")}


class PriceSpec(_Strict):
    """What a teacher model costs, USD per million tokens (leave out for local models: 0)."""

    input_per_million: float = Field(0.0, ge=0.0)
    output_per_million: float = Field(0.0, ge=0.0)


class BudgetSpec(_Strict):
    """The cost ledger's prices and the caps on what a pipeline's dataset may cost in teacher calls."""

    prices: dict[str, PriceSpec] = {}  # by teacher model name as written in teacher.model
    max_usd: float | None = Field(None, gt=0.0)
    max_calls: int | None = Field(None, ge=1)


class EvalSpec(SourceSpec):
    """The held-out set; never used for training, always used to score every model."""

    # default: the task's metrics (classification: accuracy, macro_f1; math: numeric_match, exact_match)
    metrics: list[Literal["accuracy", "macro_f1", "numeric_match", "exact_match"]] | None = None
