"""What the filters declare: one step per spec section, the reject priority, and the models they are handed."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_spec
from synth_assets.filters.apply import FILTERS, apply_filters
from synth_assets.filters.embeddings import MissingEmbedderError, TextEmbedder, embedder_for
from synth_assets.spec import load_spec
from synth_assets.spec_filters import FiltersSpec
from test_apply import EVAL_SET, SEEDS, _expansions


def test_every_filters_section_is_read_by_one_step() -> None:
    sections = [step.section for step in FILTERS if step.section is not None]
    assert len(sections) == len(set(sections)) and len({step.name for step in FILTERS}) == len(FILTERS)
    assert set(FiltersSpec.model_fields) - set(sections) == {"embedding_model"}  # read by embedder_for


def test_the_reject_priority_is_the_declared_order() -> None:
    # the first reason in this order names a row's rejection; tables already written depend on it
    assert [r for step in FILTERS for r in step.reasons] == [
        "teacher_error", "invalid", "bad_format", "seed_already_labelled", "label_check_failed", "teacher_disagrees",
        "low_confidence", "numbers_changed", "answer_mismatch", "rationale_mismatch", "backward_mismatch",
        "too_few_votes", "low_agreement", "not_majority", "judge_error", "low_judge_score", "student_already_right",
        "eval_contamination", "duplicate", "near_duplicate", "semantic_duplicate",
    ]


def test_the_report_names_the_steps_that_judged_rows(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    _, report = apply_filters(_expansions(), SEEDS, spec)
    # no eval set, no judgements, no student, and the off-by-default filters: their verdicts are null
    assert report.ran == ("validity", "seed_labelled", "label_check", "confidence", "consistency", "exact_dedup", "near_dedup")
    _, report = apply_filters(_expansions(), SEEDS, spec, EVAL_SET)
    assert "decontamination" in report.ran and report.filter_config_hash == spec.section_hash("filters")


@pytest.mark.parametrize(("filters", "field"), [
    ({"embedding_dedup": {"enabled": True}}, "filters.embedding_dedup"),
    ({"decontamination": {"embedding_threshold": 0.9}}, "filters.decontamination.embedding_threshold"),
])
def test_a_filter_that_compares_embeddings_is_handed_its_embedder(tmp_path: Path, filters: dict, field: str) -> None:
    spec = load_spec(write_spec(tmp_path, filters=filters))
    with pytest.raises(MissingEmbedderError, match=f"{field} compares sentence embeddings.*embedder_for"):
        apply_filters(_expansions(), SEEDS, spec, EVAL_SET)
    embedder = embedder_for(spec)
    assert isinstance(embedder, TextEmbedder) and embedder.model == spec.filters.embedding_model


def test_a_spec_without_embedding_filters_gets_no_embedder(tmp_path: Path) -> None:
    assert embedder_for(load_spec(write_spec(tmp_path))) is None  # so a run that needs none never imports torch
