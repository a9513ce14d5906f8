"""The `filters` section of a pipeline spec: one strict model per filter, assembled into FiltersSpec.

`synth_assets.spec` assembles it with the other sections (spec_sections) into PipelineSpec.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from synth_assets.spec_sections import TeacherSpec, _Strict
from synth_assets.strategy_catalog import strategy_info
from synth_assets.templates import check_template

# what filters/judge.py fills a judge prompt with
JUDGE_PLACEHOLDERS = ("instruction", "input", "target")


class ValiditySpec(_Strict):
    """Bounds that reject malformed generations: text the teacher wrote (the user's rows answer to `max_input_chars`)."""

    min_chars: int = Field(10, ge=0)
    max_chars: int = Field(2000, ge=1)
    # a paraphrase much shorter or longer than its source has usually lost or invented content
    min_length_ratio: float = Field(0.3, ge=0.0)
    max_length_ratio: float = Field(3.0, gt=0.0)


class ConfidenceSpec(_Strict):
    """Keep teacher labels only where the teacher is measurably right on the labelled seeds."""

    # contextual calibration (remove the teacher's prior for each label): true, false, or auto =
    # whichever labels the known seeds more accurately
    calibrate: bool | Literal["auto"] = "auto"
    min_precision: float = Field(0.8, ge=0.0, le=1.0)
    min_support: int = Field(8, ge=1)
    # threshold: reject teacher labels below the margin where the seeds show min_precision;
    # weight: keep them, each row weighted by the teacher's estimated precision at its margin
    mode: Literal["threshold", "weight"] = "threshold"


class NearDedupSpec(_Strict):
    """MinHash-LSH near-duplicates: estimated Jaccard of n-gram shingle sets >= threshold."""

    enabled: bool = True
    threshold: float = Field(0.8, gt=0.0, le=1.0)
    num_perm: int = Field(128, ge=16, le=1024)
    ngram: int = Field(3, ge=1, le=64)
    unit: Literal["word", "char"] = "word"


class EmbeddingDedupSpec(_Strict):
    """Semantic duplicates: cosine of sentence embeddings >= threshold (loads `filters.embedding_model`)."""

    enabled: bool = False
    # high by default: a good paraphrase of a seed sits around 0.8-0.9 and is what `rephrase` is for
    threshold: float = Field(0.95, gt=0.0, le=1.0)


class DecontaminationSpec(_Strict):
    """Rows that contain an eval item: shared `ngram`, or most of the item's `containment_ngram`-grams and words."""

    enabled: bool = True
    ngram: int = Field(13, ge=1, le=64)
    containment_ngram: int = Field(5, ge=1, le=64)
    min_containment: float = Field(0.5, gt=0.0, le=1.0)
    # with the containment test, the share of the item's words the row must hold (every word of an
    # item under `ngram` words): a template sibling differs from the item in its slot value; 0 = off
    min_word_containment: float = Field(0.9, ge=0.0, le=1.0)
    embedding_threshold: float | None = Field(None, gt=0.0, le=1.0)  # cosine; null = no embedding test


class ConsistencySpec(_Strict):
    """Answer checks: math rows on a seed's own problem must reach its answer; others need a clear majority."""

    # math rows whose seed answer is known are rejected unless they reach it (answer_mismatch)
    verify: bool = True
    # rows with no known answer are kept only if they agree with the majority of their group's answers
    # (the k samples of one question, plus `votes` re-solves) and that majority holds this share of them
    min_agreement: float = Field(0.5, ge=0.0, le=1.0)
    # math rows with no known answer need at least this many answers to be judged at all
    min_votes: int = Field(2, ge=1)


class JudgeSpec(_Strict):
    """An LLM judge scoring each candidate row 1-5 (off by default: it costs one teacher call per row)."""

    enabled: bool = False
    teacher: TeacherSpec | None = None  # default: the pipeline's teacher
    min_score: int = Field(3, ge=1, le=5)
    prompt: str | None = None  # placeholders {instruction}, {input}, {target}
    max_new_tokens: int = Field(16, ge=1, le=512)
    # labelled seeds judged with their true and a wrong target, to measure the judge (Cohen's kappa)
    calibration_seeds: int = Field(20, ge=0)
    min_kappa: float = Field(0.2, ge=-1.0, le=1.0)  # the asset check warns below this

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str | None) -> str | None:
        if prompt is not None:
            check_template(prompt, "the judge", JUDGE_PLACEHOLDERS, required=("input", "target"))
        return prompt


class StudentAwareSpec(_Strict):
    """Drop a generated row the current student (round 0: seeds-only; round r: round r-1's) already gets right."""

    enabled: bool = False
    # a classifier student must also give the row's target at least this probability to count as knowing it
    min_true_prob: float = Field(0.9, ge=0.0, le=1.0)


class FormatSpec(_Strict):
    """A regular expression and/or JSON schema the rows' text must match; the others are `bad_format` (off by default)."""

    enabled: bool = False
    column: Literal["input", "target", "raw_output"] = "input"  # the text checked: by default the text the teacher wrote
    pattern: str | None = None  # a Python regular expression found anywhere in the text; anchor it (^...$) for all of it
    json_schema: dict[str, Any] | None = None  # the text must be one JSON document valid under this schema
    # the strategies whose rows are checked; empty: every strategy that writes a text (not label, whose text is the seed's)
    strategies: list[str] = []

    @field_validator("pattern")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"not a valid regular expression ({err})") from None
        return pattern

    @field_validator("json_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            from jsonschema import SchemaError
            from jsonschema.validators import validator_for

            try:
                validator_for(schema).check_schema(schema)
            except SchemaError as err:
                raise ValueError(f"not a valid JSON schema ({err.message} at {err.json_path})") from None
        return schema

    @field_validator("strategies")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            strategy_info(name)
        return names

    @model_validator(mode="after")
    def _something_to_match(self) -> FormatSpec:
        if self.enabled and self.pattern is None and self.json_schema is None:
            raise ValueError("pattern: the format filter is on but has nothing to match; give a pattern or a json_schema")
        return self


class FiltersSpec(_Strict):
    exact_dedup: bool = True
    validity: ValiditySpec = ValiditySpec()
    confidence: ConfidenceSpec = ConfidenceSpec()
    near_dedup: NearDedupSpec = NearDedupSpec()
    embedding_dedup: EmbeddingDedupSpec = EmbeddingDedupSpec()
    decontamination: DecontaminationSpec = DecontaminationSpec()
    embedding_model: str = "embedded:all-minilm-l6-v2"  # for embedding_dedup and decontamination.embedding_threshold
    consistency: ConsistencySpec = ConsistencySpec()
    judge: JudgeSpec = JudgeSpec()
    student_aware: StudentAwareSpec = StudentAwareSpec()
    format: FormatSpec = FormatSpec()

    @property
    def uses_embeddings(self) -> bool:
        return self.embedding_dedup.enabled or (self.decontamination.enabled and self.decontamination.embedding_threshold is not None)
