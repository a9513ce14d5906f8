"""Distillation settings a student would silently ignore are refused at load, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_math_spec, write_spec
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
    with pytest.raises(SpecError, match=r"student\.distill\.logit_kd"):
        load_spec(write_spec(tmp_path, student={"kind": "tfidf_logreg", "distill": {"logit_kd": True}}))


# logit distillation: a SmolLM2 student of a teacher whose answer_augment solutions keep their top-5 tokens
KD_STUDENT = {"kind": "causal_lm", "distill": {"logits": True, "teacher_tokenizer": "embedded:smollm2-135m-instruct"}}
KD_STRATEGIES = [{"name": "answer_augment", "top_logprobs": 5}]


def test_logit_distillation_loads_when_the_tokenizers_match(tmp_path: Path) -> None:
    spec = load_spec(write_math_spec(tmp_path, strategies=KD_STRATEGIES, student=KD_STUDENT))
    assert spec.student.distill.logits and spec.student.distill.teacher_tokenizer == "embedded:smollm2-135m-instruct"
    # a transformers teacher's own model names its tokenizer
    transformers = {"backend": "transformers", "model": "embedded:smollm2-135m-instruct"}
    assert load_spec(write_math_spec(tmp_path, teacher=transformers, strategies=KD_STRATEGIES,
                                     student={"kind": "causal_lm", "distill": {"logits": True}})).student.distill.logits


def test_logit_distillation_refuses_a_student_of_another_vocabulary(tmp_path: Path) -> None:
    from synth_assets.models.embedded import minilm_dir

    # MiniLM's BERT word pieces as the teacher's tokenizer: no SmolLM2 token id means the same text there
    bert = str(minilm_dir())
    student = {**KD_STUDENT, "distill": {"logits": True, "teacher_tokenizer": bert}}
    with pytest.raises(SpecError, match=r"student\.distill\.logits: the teacher tokenizer") as refused:
        load_spec(write_math_spec(tmp_path, strategies=KD_STRATEGIES, student=student))
    message = str(refused.value)
    assert bert in message and "embedded:smollm2-135m-instruct" in message and "different vocabularies" in message


@pytest.mark.parametrize("overrides, field, says", [
    # a classifier student has no tokens to learn
    ({"student": {"kind": "tfidf_logreg", "distill": {"logits": True}}}, "student.distill.logits", "causal_lm"),
    # no strategy keeps top_logprobs
    ({"strategies": [{"name": "answer_augment"}]}, "student.distill.logits", "top_logprobs"),
    # rephrase keeps the seed's answer: its stored tokens are the new problem's, not a target's
    ({"strategies": [{"name": "answer_augment"}, {"name": "rephrase", "top_logprobs": 5}]}, "student.distill.logits",
     "top_logprobs"),
    # the fake teacher's model is no tokenizer, and none is named
    ({"student": {"kind": "causal_lm", "distill": {"logits": True}}}, "student.distill.teacher_tokenizer", "fake"),
    ({"student": {**KD_STUDENT, "distill": {"logits": True, "teacher_tokenizer": "/no/such/tokenizer"}}},
     "student.distill.teacher_tokenizer", "/no/such/tokenizer"),
])
def test_logit_distillation_that_cannot_work_is_refused(tmp_path: Path, overrides: dict, field: str, says: str) -> None:
    sections = {"strategies": KD_STRATEGIES, "student": KD_STUDENT, **overrides}
    with pytest.raises(SpecError, match=field.replace(".", r"\.")) as refused:
        load_spec(write_math_spec(tmp_path, **sections))
    assert says in str(refused.value)


def test_logit_distillation_needs_a_math_task(tmp_path: Path) -> None:
    # a classification target is a label the teacher scored, never its generated text
    with pytest.raises(SpecError, match=r"student\.distill\.logits: no strategy"):
        load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rationale", "top_logprobs": 5}],
                             student=KD_STUDENT))
