"""The pipeline spec: one YAML file a user edits, validated before any compute runs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import Field, ValidationError, model_validator

from synth_assets.hashing import stable_hash
from synth_assets.spec_filters import (
    ConfidenceSpec,
    ConsistencySpec,
    DecontaminationSpec,
    EmbeddingDedupSpec,
    FiltersSpec,
    JudgeSpec,
    NearDedupSpec,
    StudentAwareSpec,
    ValiditySpec,
)
from synth_assets.spec_distill import check_distill
from synth_assets.spec_rounds import ActiveSpec, MixtureSpec, RoundsSpec
from synth_assets.spec_sections import (
    BudgetSpec,
    ChecksSpec,
    EvalSpec,
    PriceSpec,
    SourceSpec,
    StrategySpec,
    StudentSpec,
    TASKS,
    TASK_METRICS,
    TeacherSpec,
    _Strict,
)
from synth_assets.strategy_catalog import STRATEGY_CATALOG

SOURCE_FORMATS = ("csv", "jsonl", "parquet")
DATA_ROOTS_ENV = "SYNTH_DATA_ROOTS"
_FIELD_PREFIX = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (?P<rest>.*)$", re.S)


class SpecError(ValueError):
    """A spec that cannot run; the message names the file and the field."""


class PipelineSpec(_Strict):
    """A whole pipeline: seeds, teacher, strategies, filters, student, evaluation."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    description: str = ""
    # classification: targets are labels; math: targets are numeric answers (word problems)
    task: Literal["classification", "math"] = "classification"
    instruction: str = Field(min_length=1)
    labels: list[str] = []
    label_words: dict[str, str] = {}
    seeds: list[SourceSpec] = Field(min_length=1)
    eval: EvalSpec
    teacher: TeacherSpec = TeacherSpec()
    strategies: list[StrategySpec] = Field(min_length=1)
    filters: FiltersSpec = FiltersSpec()
    student: StudentSpec = StudentSpec()
    # teacher generation split into this many seed shards: Dagster partitions of `expansions`, which
    # `synth run` materialises in parallel processes (and a k8s/celery deployment on many machines)
    shards: int = Field(1, ge=1, le=1024)
    rounds: RoundsSpec = RoundsSpec()
    budget: BudgetSpec = BudgetSpec()
    checks: ChecksSpec = ChecksSpec()
    max_input_chars: int = Field(4000, ge=1)
    schedule: str | None = None  # cron: refresh what is stale on this schedule (needs the Dagster daemon)

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        if self.task == "classification" and len(self.labels) < 2:
            raise ValueError("labels: a classification task needs at least two labels")
        if self.task != "classification" and (self.labels or self.label_words):
            raise ValueError(f"labels: a {self.task} task has no label set; remove labels and label_words")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels: each label must appear once")
        unknown = set(self.label_words) - set(self.labels)
        if unknown:
            raise ValueError(f"label_words: {sorted(unknown)} are not in labels {self.labels}")
        if not any(s.target for s in self.seeds):
            raise ValueError("seeds: at least one source needs a `target` column (labelled seeds)")
        if self.schedule is not None and len(self.schedule.split()) != 5:
            raise ValueError(f"schedule: {self.schedule!r} is not a 5-field cron expression such as '0 3 * * *'")
        if not self.eval.target:
            raise ValueError("eval.target: the held-out set needs a target column to score models")
        wrong = [m for m in self.eval.metrics or () if m not in TASK_METRICS[self.task]]
        if wrong:
            raise ValueError(f"eval.metrics: {wrong} do not apply to a {self.task} task; use {list(TASK_METRICS[self.task])}")
        round_strategy = self.rounds.strategy
        if round_strategy is not None and self.task not in STRATEGY_CATALOG[round_strategy.name].tasks:
            raise ValueError(f"rounds.strategy.name: strategy {round_strategy.name!r} does not apply to a {self.task} task")
        if round_strategy is None and self.rounds.max_rounds and not self.rounds.active.pool_rows:
            raise ValueError("rounds.strategy: without an error strategy a round has nothing to do; "
                             "set rounds.strategy or rounds.active.pool_rows")
        for i, cfg in enumerate(self.strategies):
            tasks = STRATEGY_CATALOG[cfg.name].tasks
            if self.task not in tasks:
                raise ValueError(f"strategies.{i}.name: strategy {cfg.name!r} does not apply to a {self.task} task "
                                 f"(it applies to: {', '.join(tasks)})")
        round_cfg = [("rounds.strategy", round_strategy)] if round_strategy is not None else []
        for field, cfg in [*((f"strategies.{i}", c) for i, c in enumerate(self.strategies)), *round_cfg]:
            if cfg.votes and (self.task != "math" or STRATEGY_CATALOG[cfg.name].same_problem):
                makers = sorted(n for n, s in STRATEGY_CATALOG.items() if not s.same_problem and "math" in s.tasks)
                raise ValueError(f"{field}.votes: only strategies that write new math problems take votes "
                                 f"({', '.join(makers)}); remove votes from {cfg.name!r}")
        self._check_active()
        self._check_mixture()
        self._check_label_checks()
        check_distill(self)
        return self

    def _check_label_checks(self) -> None:
        # after the active and mixture checks, whose own "add a `label` strategy" says why they need one
        later = [("rounds.strategy", self.rounds.strategy)] if self.rounds.strategy is not None else []
        for field, cfg in [*((f"strategies.{i}", c) for i, c in enumerate(self.strategies)), *later]:
            if cfg.verify_label and self.task != "classification":
                raise ValueError(f"{field}.verify_label: only a classification task has labels to verify")
            # a default check of a rounds strategy that never runs (max_rounds: 0) needs nothing
            runs = field != "rounds.strategy" or self.rounds.max_rounds > 0 or cfg.verify_label
            if runs and self.checks_label(cfg) and self.label_strategy is None:
                default = "" if cfg.verify_label else (f" ({cfg.name} writes new texts, so it checks their labels by default; "
                                                        f"or set {field}.verify_label: false to keep its rows unchecked)")
                raise ValueError(f"{field}.verify_label: checking the teacher's label needs a `label` strategy in strategies, "
                                 f"whose labels of the labelled seeds measure how far the teacher can be trusted{default}")

    def _check_active(self) -> None:
        active = self.rounds.active
        if not active.pool_rows:
            return
        if self.rounds.max_rounds < 1:
            raise ValueError("rounds.active.pool_rows: active selection happens in rounds; set rounds.max_rounds >= 1")
        if self.task != "classification":
            raise ValueError("rounds.active.pool_rows: the teacher labels pool rows only in a classification task")
        if self.label_strategy is None:
            raise ValueError("rounds.active.pool_rows: add a `label` strategy to strategies; its labels of the labelled "
                             "seeds set the confidence the new pool labels must reach")
        if active.selection != "random" and self.student.kind == "causal_lm":
            raise ValueError(f"rounds.active.selection: {active.selection!r} ranks the student's label probabilities, which "
                             "a causal_lm student does not give; use a classifier student or selection: random")

    def _check_mixture(self) -> None:
        if self.rounds.mixture is None:
            return
        if self.rounds.max_rounds < 1 or self.rounds.strategy is None:
            raise ValueError("rounds.mixture: the mixture splits the student errors a round expands; "
                             "set rounds.max_rounds >= 1 and rounds.strategy")
        if self.task != "classification":
            raise ValueError(f"rounds.mixture: the gap is measured on teacher labels, which a {self.task!r} task has not; "
                             "it needs a classification task")
        if self.label_strategy is None:
            raise ValueError("rounds.mixture: the gap is measured on the teacher's labels of the labelled seeds; "
                             "add a `label` strategy to strategies")

    @property
    def label_strategy(self) -> StrategySpec | None:
        """The first `label` strategy: its prompt labels the pool, and its seed labels measure the teacher."""
        return next((s for s in self.strategies if s.name == "label"), None)

    def checks_label(self, cfg: StrategySpec) -> bool:
        """Whether the teacher re-labels this strategy's new texts: its verify_label, else its default for this task."""
        if cfg.verify_label is not None:
            return cfg.verify_label
        return self.task == "classification" and STRATEGY_CATALOG[cfg.name].verify_label_default

    @property
    def metrics(self) -> list[str]:
        """The eval metrics to report: the spec's, else the task's defaults."""
        return list(self.eval.metrics or TASK_METRICS[self.task])

    def word_for(self, label: str) -> str:
        """The word the teacher scores for a label (labels like 'other' read badly to an LM)."""
        return self.label_words.get(label, label)

    def section_hash(self, *sections: str) -> str:
        """Hash of the named spec sections: goes into the code_version of the assets they shape.

        Fields left at their defaults are omitted, so a new optional field in a later version of
        synth does not make every existing pipeline stale.
        """
        dumped = self.model_dump(mode="json", exclude_defaults=True)
        return stable_hash(*[dumped.get(s) for s in sections], length=12)


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid pipeline spec"]
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        # pydantic prefixes our own messages with "Value error, "; ours start with the field they
        # are about ("pool_rows: ..."), which joins the location: strategies.1.pool_rows: ...
        msg = e["msg"].removeprefix("Value error, ")
        sub = _FIELD_PREFIX.match(msg)
        if sub:
            field = sub["field"] if field == "(top level)" else f"{field}.{sub['field']}"
            msg = sub["rest"]
        lines.append(f"  {field}: {msg}")
    return "\n".join(lines)


def _source_columns(path: Path, fmt: str) -> list[str]:
    """Column names of a seed file, read cheaply, to fail before compute on a wrong mapping."""
    if fmt == "csv":
        import csv

        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            return next(csv.reader(fh), [])
    if fmt == "parquet":
        return list(pl.read_parquet_schema(path))
    import json

    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    return list(json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue  # a malformed row is quarantined later, not a spec error
    return []


def data_roots(base: Path) -> list[Path]:
    """Folders a spec may read sources from: its own folder, plus $SYNTH_DATA_ROOTS (os.pathsep-separated)."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get(DATA_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return [base.resolve(), *extra]


def _check_source(base: Path, field: str, src: SourceSpec, spec_path: Path) -> SourceSpec:
    resolved = (base / src.path).resolve()
    roots = data_roots(base)
    # a spec shared through a deployment must not read files its author never meant to publish
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise SpecError(f"{spec_path}: {field}.path: {src.path!r} resolves to {resolved}, outside the folders a spec may "
                        f"read ({allowed}); move the file under the spec's folder, or allow its folder explicitly with "
                        f"{DATA_ROOTS_ENV}={resolved.parent} (several folders separated by {os.pathsep!r})")
    if not resolved.is_file():
        raise SpecError(f"{spec_path}: {field}.path: file not found: {resolved}")
    fmt = src.resolved_format
    if fmt not in SOURCE_FORMATS:
        raise SpecError(f"{spec_path}: {field}.format: cannot tell the format of {src.path!r}; set format to one of {SOURCE_FORMATS}")
    columns = _source_columns(resolved, fmt)
    for role in ("input", "target"):
        col = getattr(src, role)
        if col is not None and col not in columns:
            raise SpecError(f"{spec_path}: {field}.{role}: column {col!r} not in {src.path} (columns: {columns})")
    return src.model_copy(update={"path": str(resolved), "format": fmt})


def load_spec(path: str | Path) -> PipelineSpec:
    """Read, validate and resolve a spec; paths are relative to the spec file's folder."""
    spec_path = Path(path).resolve()
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{spec_path}: spec file not found") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{spec_path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save the spec as UTF-8") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{spec_path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{spec_path}: a pipeline spec must be a mapping of fields, got {type(raw).__name__}")
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_validation_error(spec_path, exc)) from None
    base = spec_path.parent
    seeds = [_check_source(base, f"seeds.{i}", s, spec_path) for i, s in enumerate(spec.seeds)]
    eval_src = _check_source(base, "eval", spec.eval, spec_path)
    for i, src in enumerate(seeds):
        if Path(src.path) == Path(eval_src.path):
            raise SpecError(f"{spec_path}: eval.path: {spec.eval.path!r} is also seeds.{i}.path; the held-out set must be a "
                            "file of its own, or every eval score measures memory instead of generalisation")
    _check_api_keys(spec, spec_path)
    return spec.model_copy(update={"seeds": seeds, "eval": eval_src})


def _check_api_keys(spec: PipelineSpec, spec_path: Path) -> None:
    """A key variable that is unset fails the first teacher call; say so before anything runs."""
    teachers = [("teacher", spec.teacher)]
    if spec.filters.judge.teacher is not None:
        teachers.append(("filters.judge.teacher", spec.filters.judge.teacher))
    for field, teacher in teachers:
        name = teacher.api_key_env
        if name is not None and not os.environ.get(name):
            raise SpecError(f"{spec_path}: {field}.api_key_env: the environment variable {name!r} is unset or empty; "
                            f"export {name}=<your key> before running, or remove api_key_env for a server without a key")


__all__ = ["ActiveSpec", "StudentAwareSpec", "PipelineSpec", "SOURCE_FORMATS", "SpecError", "load_spec", "BudgetSpec", "ChecksSpec", "ConfidenceSpec", "ConsistencySpec", "DecontaminationSpec", "EmbeddingDedupSpec", "EvalSpec", "FiltersSpec", "JudgeSpec", "MixtureSpec", "NearDedupSpec", "PriceSpec", "RoundsSpec", "SourceSpec", "StrategySpec", "StudentSpec", "TASKS", "TASK_METRICS", "TeacherSpec", "ValiditySpec"]
