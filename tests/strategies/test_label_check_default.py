"""verify_label by default: a classification strategy that writes a new text keeps its row only when the teacher agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_math_spec, write_spec
from synth_assets.assets.common import Build
from synth_assets.assets.expansions import build_expansions
from synth_assets.assets.filtered import build_filtered
from synth_assets.spec import SpecError, load_spec
from synth_assets.strategies.label_check import DEFAULT_CHECK_MARK, label_checked


def _code_versions(spec, root: Path, r: int = 0) -> list[str]:
    b = Build(spec, root)
    return [next(iter(build(b, r).code_versions_by_key.values())) for build in (build_expansions, build_filtered)]


def test_text_writing_strategies_are_checked_in_classification_only(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase"}, {"name": "new_question"},
                                                      {"name": "rationale"}, {"name": "hard_negative"}],
                                rounds={"max_rounds": 1}))
    assert label_checked(spec, 0) == ["rephrase", "new_question", "hard_negative"]
    assert label_checked(spec, 1) == ["error_driven"]  # the default rounds strategy
    math = load_spec(write_math_spec(tmp_path / "math", strategies=[{"name": "rephrase"}, {"name": "new_question"}],
                                     rounds={"max_rounds": 1}))
    assert label_checked(math, 0) == [] and label_checked(math, 1) == []


def test_an_explicit_verify_label_wins_over_the_default(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "verify_label": False},
                                                      {"name": "hard_negative", "verify_label": False}],
                                rounds={"max_rounds": 1, "strategy": {"name": "error_driven", "verify_label": False}}))
    assert label_checked(spec, 0) == [] and label_checked(spec, 1) == []
    # with verify_label off nothing needs a label strategy
    load_spec(write_spec(tmp_path, strategies=[{"name": "rephrase", "verify_label": False}]))


def test_a_default_check_without_a_label_strategy_is_refused_naming_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(tmp_path, strategies=[{"name": "new_question"}]))
    msg = str(err.value)
    assert "strategies.0.verify_label: checking the teacher's label needs a `label` strategy" in msg
    assert "set strategies.0.verify_label: false" in msg
    with pytest.raises(SpecError, match=r"rounds\.strategy\.verify_label: checking the teacher's label needs a `label`"):
        load_spec(write_spec(tmp_path, strategies=[{"name": "rephrase", "verify_label": False}], rounds={"max_rounds": 1}))
    # the default rounds strategy (error_driven) of a pipeline without rounds never runs, so it needs nothing
    load_spec(write_spec(tmp_path, strategies=[{"name": "rephrase", "verify_label": False}], rounds={"max_rounds": 0}))


def test_only_specs_whose_rows_the_default_changed_get_new_code_versions(tmp_path: Path) -> None:
    by_default = load_spec(write_spec(tmp_path))  # label + rephrase, verify_label unset: now checked
    assert all(DEFAULT_CHECK_MARK in v for v in _code_versions(by_default, tmp_path))
    for setting in (True, False):  # set either way, the rows are what they were: the versions are too
        explicit = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "samples": 2,
                                                                                  "verify_label": setting}]))
        assert not any(DEFAULT_CHECK_MARK in v for v in _code_versions(explicit, tmp_path))
    hard_negative = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "hard_negative"}]))
    assert not any(DEFAULT_CHECK_MARK in v for v in _code_versions(hard_negative, tmp_path))  # checked before
    math = load_spec(write_math_spec(tmp_path / "math", strategies=[{"name": "rephrase"}]))
    assert not any(DEFAULT_CHECK_MARK in v for v in _code_versions(math, tmp_path))
    rounds = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "verify_label": True}],
                                  rounds={"max_rounds": 1}))  # round 1's error_driven rows are checked by default
    assert not any(DEFAULT_CHECK_MARK in v for v in _code_versions(rounds, tmp_path, 0))
    assert all(DEFAULT_CHECK_MARK in v for v in _code_versions(rounds, tmp_path, 1))
