"""A bad spec fails at load, before any compute, with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import DATA, write_spec
from synth_assets.spec import SpecError, load_spec


def _error(tmp_path: Path, **overrides) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp_path, **overrides))
    return str(info.value)


def test_valid_spec_resolves_paths(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    assert spec.name == "tiny"
    assert Path(spec.seeds[0].path).is_absolute() and spec.seeds[0].format == "csv"
    assert spec.word_for("great") == "yes" and spec.word_for("other") == "no"


def test_unknown_field_is_named(tmp_path: Path) -> None:
    msg = _error(tmp_path, teacher={"backend": "fake", "model": "fake", "batchsize": 4})
    assert "teacher.batchsize" in msg and "Extra inputs are not permitted" in msg


def test_wrong_type_is_named(tmp_path: Path) -> None:
    msg = _error(tmp_path, teacher={"backend": "fake", "model": "fake", "batch_size": "lots"})
    assert "teacher.batch_size" in msg


def test_out_of_range_value_is_named(tmp_path: Path) -> None:
    assert "teacher.batch_size" in _error(tmp_path, teacher={"backend": "fake", "batch_size": 0})


def test_unknown_strategy_lists_choices(tmp_path: Path) -> None:
    msg = _error(tmp_path, strategies=[{"name": "paraphrase"}])
    assert "strategies.0.name" in msg and "unknown strategy 'paraphrase'" in msg and "rephrase" in msg


def test_unknown_backend_is_named(tmp_path: Path) -> None:
    assert "teacher.backend" in _error(tmp_path, teacher={"backend": "gpt"})


def test_missing_file_is_named(tmp_path: Path) -> None:
    msg = _error(tmp_path, eval={"path": "nope.csv", "input": "review", "target": "score"})
    assert "eval.path" in msg and "file not found" in msg


def test_missing_column_is_named(tmp_path: Path) -> None:
    msg = _error(tmp_path, seeds=[{"path": str(DATA / "seeds.csv"), "input": "text", "target": "score"}])
    assert "seeds.0.input" in msg and "'text'" in msg and "review" in msg


def test_label_words_must_match_labels(tmp_path: Path) -> None:
    assert "label_words" in _error(tmp_path, label_words={"positive": "yes"})


def test_needs_labelled_seeds(tmp_path: Path) -> None:
    assert "seeds" in _error(tmp_path, seeds=[{"path": str(DATA / "pool.csv"), "input": "review"}])


def test_bad_name_and_yaml(tmp_path: Path) -> None:
    assert "name" in _error(tmp_path, name="My Pipeline!")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(bad)


def test_shipped_examples_load() -> None:
    from synth_assets.factory import default_spec_paths

    specs = [load_spec(p) for p in default_spec_paths()]
    assert {"sentiment", "sentiment_active", "math"} <= {s.name for s in specs}


def test_openai_backend_needs_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _error(tmp_path, teacher={"backend": "openai", "model": "m"})
    assert "teacher" in msg and "base_urls" in msg
    monkeypatch.setenv("MY_KEY", "sk-test")
    spec = load_spec(write_spec(tmp_path, teacher={"backend": "openai", "model": "m", "base_urls": ["http://127.0.0.1:8000/v1"],
                                                   "api_key_env": "MY_KEY"}))
    assert spec.teacher.api_key_env == "MY_KEY"


def test_a_setting_of_another_backend_is_refused_not_ignored(tmp_path: Path) -> None:
    # tensor_parallel_size is vLLM's: on the embedded teacher it would do nothing, silently
    msg = _error(tmp_path, teacher={"backend": "transformers", "tensor_parallel_size": 4})
    assert "teacher" in msg and "tensor_parallel_size" in msg and "vllm" in msg
    msg = _error(tmp_path, teacher={"backend": "vllm", "model": "m", "base_urls": ["http://127.0.0.1:8000/v1"]})
    assert "base_urls" in msg and "openai" in msg
    # dtype is read by two backends: either takes it
    assert load_spec(write_spec(tmp_path, teacher={"backend": "vllm", "model": "m", "dtype": "bfloat16"})).teacher.dtype == "bfloat16"


def test_vllm_backend_builds_a_lazy_resource(tmp_path: Path) -> None:
    import sys

    from synth_assets.factory import teacher_resource
    from synth_assets.inference.resources import VLLMTeacher

    spec = load_spec(write_spec(tmp_path, teacher={"backend": "vllm", "model": "embedded:smollm2-135m-instruct",
                                                   "tensor_parallel_size": 2, "max_model_len": 2048}))
    resource = teacher_resource(spec)
    assert isinstance(resource, VLLMTeacher) and resource.tensor_parallel_size == 2
    assert "vllm" not in sys.modules  # nothing is imported until the engine is needed


def test_section_hash_ignores_defaults_but_not_changes(tmp_path: Path) -> None:
    base = load_spec(write_spec(tmp_path, teacher={"backend": "fake", "model": "fake", "batch_size": 4}))
    explicit = load_spec(write_spec(tmp_path, teacher={"backend": "fake", "model": "fake", "batch_size": 4, "max_new_tokens": 96}))
    changed = load_spec(write_spec(tmp_path, teacher={"backend": "fake", "model": "fake", "batch_size": 8}))
    assert base.section_hash("teacher") == explicit.section_hash("teacher")  # 96 is the default
    assert base.section_hash("teacher") != changed.section_hash("teacher")
    assert base.section_hash("filters") != load_spec(write_spec(tmp_path, filters={"exact_dedup": False})).section_hash("filters")


def test_math_task_needs_no_labels_and_rejects_label_only_strategies(tmp_path) -> None:
    math = {"task": "math", "instruction": "Solve the word problem.", "labels": [], "label_words": {},
            "seeds": [{"path": str(DATA / "math_seeds.jsonl"), "input": "problem", "target": "answer"}],
            "eval": {"path": str(DATA / "math_test.jsonl"), "input": "problem", "target": "answer"},
            "strategies": [{"name": "rephrase"}]}
    spec = load_spec(write_spec(tmp_path, **math))
    assert spec.task == "math" and spec.metrics == ["numeric_match", "exact_match"]
    with pytest.raises(SpecError, match=r"strategies\.0\.name: strategy 'label' does not apply to a math task"):
        load_spec(write_spec(tmp_path, **{**math, "strategies": [{"name": "label"}]}))
    with pytest.raises(SpecError, match=r"eval\.metrics: \['accuracy'\] do not apply to a math task"):
        load_spec(write_spec(tmp_path, **{**math, "eval": {**math["eval"], "metrics": ["accuracy"]}}))
    with pytest.raises(SpecError, match="labels: a math task has no label set"):
        load_spec(write_spec(tmp_path, **{**math, "labels": ["a", "b"]}))
    with pytest.raises(SpecError, match="labels: a classification task needs at least two labels"):
        load_spec(write_spec(tmp_path, labels=["great"], label_words={}))


def test_dedup_and_decontamination_settings_are_bounded_and_defaults_keep_the_hash(tmp_path: Path) -> None:
    confidence = {"min_precision": 0.5, "min_support": 2}
    base = load_spec(write_spec(tmp_path))
    defaults = load_spec(write_spec(tmp_path, filters={"confidence": confidence, "near_dedup": {"threshold": 0.8, "num_perm": 128},
                                                       "decontamination": {"enabled": True, "embedding_threshold": None}}))
    assert base.section_hash("filters") == defaults.section_hash("filters")
    stricter = load_spec(write_spec(tmp_path, filters={"confidence": confidence, "near_dedup": {"threshold": 0.9}}))
    assert stricter.section_hash("filters") != base.section_hash("filters")
    assert "filters.near_dedup.threshold" in _error(tmp_path, filters={"near_dedup": {"threshold": 1.5}})
    assert "filters.decontamination.ngram" in _error(tmp_path, filters={"decontamination": {"ngram": 0}})
    assert "filters.embedding_dedup.treshold" in _error(tmp_path, filters={"embedding_dedup": {"treshold": 0.9}})


def test_causal_lm_student_defaults_to_the_embedded_chat_model(tmp_path: Path) -> None:
    student = load_spec(write_spec(tmp_path, student={"kind": "causal_lm"})).student
    assert student.base_model == "embedded:smollm2-135m-instruct" and student.finetune == "lora"
    explicit = load_spec(write_spec(tmp_path, student={"kind": "causal_lm", "base_model": "my/chat-model"})).student
    assert explicit.base_model == "my/chat-model"


def test_causal_lm_fields_are_bounded_and_named(tmp_path: Path) -> None:
    assert "student.finetune" in _error(tmp_path, student={"kind": "causal_lm", "finetune": "qlora"})
    assert "student.lora_r" in _error(tmp_path, student={"kind": "causal_lm", "lora_r": 0})
    assert "student.lora_dropout" in _error(tmp_path, student={"kind": "causal_lm", "lora_dropout": 1.0})
    assert "student.max_steps" in _error(tmp_path, student={"kind": "causal_lm", "max_steps": 0})


def test_causal_lm_fields_on_a_classifier_are_refused_by_name(tmp_path: Path) -> None:
    msg = _error(tmp_path, student={"kind": "tfidf_logreg", "lora_r": 16})
    assert "student" in msg and "lora_r" in msg and "causal_lm" in msg


def test_student_precision_is_for_the_encoder_only(tmp_path: Path) -> None:
    msg = _error(tmp_path, student={"kind": "tfidf_logreg", "precision": "bfloat16"})
    assert "student" in msg and "precision" in msg and "encoder_classifier" in msg
    assert "student.precision" in _error(tmp_path, student={"precision": "fp8"})
    spec = load_spec(write_spec(tmp_path, student={"precision": "bfloat16"}))
    assert spec.student.precision == "bfloat16"


def test_new_student_fields_leave_existing_student_hashes_alone(tmp_path: Path) -> None:
    # Only fields a user sets enter the hash: an encoder spec hashes as it did before causal_lm existed.
    spec = load_spec(write_spec(tmp_path, student={"kind": "encoder_classifier", "epochs": 2}))
    assert spec.model_dump(mode="json", exclude_defaults=True)["student"] == {"epochs": 2}


def test_active_selection_and_label_checks_are_validated_by_field(tmp_path: Path) -> None:
    assert "strategies.1.pool_rows: only the label strategy" in _error(
        tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "pool_rows": 5}])
    assert "verify_label: the label strategy's rows" in _error(tmp_path, strategies=[{"name": "label", "verify_label": True}])
    assert "strategies.0.verify_label: checking the teacher's label needs a `label` strategy" in _error(
        tmp_path, strategies=[{"name": "hard_negative"}])
    assert "rounds.active.pool_rows: active selection happens in rounds" in _error(tmp_path, rounds={"active": {"pool_rows": 10}})
    assert "rounds.active.pool_rows: add a `label` strategy" in _error(
        tmp_path, strategies=[{"name": "rephrase"}], rounds={"max_rounds": 1, "active": {"pool_rows": 10}})
    assert "rounds.active.selection: 'margin' ranks the student's label probabilities" in _error(
        tmp_path, student={"kind": "causal_lm"}, rounds={"max_rounds": 1, "active": {"pool_rows": 10}})
    assert "rounds.active.selection" in _error(tmp_path, rounds={"max_rounds": 1, "active": {"pool_rows": 1, "selection": "vibes"}})
    assert "rounds.strategy: without an error strategy a round has nothing to do" in _error(
        tmp_path, rounds={"max_rounds": 1, "strategy": None})
    ok = load_spec(write_spec(tmp_path, strategies=[{"name": "label", "pool_rows": 3}, {"name": "hard_negative"}],
                              rounds={"max_rounds": 1, "active": {"pool_rows": 2}, "strategy": {"name": "hard_negative"}}))
    assert ok.checks_label(ok.strategies[1]) and not ok.checks_label(ok.strategies[0]) and ok.checks_label(ok.rounds.strategy)
    math = {"task": "math", "instruction": "Solve.", "labels": [], "label_words": {},
            "seeds": [{"path": str(DATA / "math_seeds.jsonl"), "input": "problem", "target": "answer"}],
            "eval": {"path": str(DATA / "math_test.jsonl"), "input": "problem", "target": "answer"}}
    assert "strategies.0.verify_label: only a classification task" in _error(
        tmp_path, **math, strategies=[{"name": "rephrase", "verify_label": True}])


def test_new_round_and_filter_options_leave_existing_hashes_alone(tmp_path: Path) -> None:
    plain = load_spec(write_spec(tmp_path))
    spelled = load_spec(write_spec(tmp_path, rounds={"active": {"pool_rows": 0, "selection": "margin"}},
                                   filters={"confidence": {"min_precision": 0.5, "min_support": 2},
                                            "student_aware": {"enabled": False}}))
    assert plain.section_hash("rounds", "filters") == spelled.section_hash("rounds", "filters")
