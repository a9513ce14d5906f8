"""Distillation settings a student would silently ignore are refused at load, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_spec
from synth_assets.spec import SpecError, load_spec


@pytest.mark.parametrize("overrides, field", [
    ({"student": {"kind": "causal_lm", "distill": {"soft_labels": True}}}, "student.distill.soft_labels"),
    ({"student": {"kind": "causal_lm"}, "filters": {"confidence": {"mode": "weight"}}}, "filters.confidence.mode"),
])
def test_settings_a_causal_lm_student_cannot_use_are_refused(tmp_path: Path, overrides: dict, field: str) -> None:
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        load_spec(write_spec(tmp_path, **overrides))


def test_classifier_students_take_them(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, student={"kind": "tfidf_logreg", "distill": {"soft_labels": True, "temperature": 2.0}},
                                filters={"confidence": {"mode": "weight"}}))
    assert spec.student.distill.soft_labels and spec.student.distill.temperature == 2.0
    assert spec.filters.confidence.mode == "weight"


def test_unknown_distill_fields_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"student\.distill\.logits"):
        load_spec(write_spec(tmp_path, student={"kind": "tfidf_logreg", "distill": {"logits": True}}))
