"""verify_label by default: a classification strategy that writes a new text keeps its row only when the teacher agrees."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scripted_teacher import ScriptedTeacher
from spec_helpers import write_math_spec, write_spec
from synth_assets.assets.common import Build
from synth_assets.assets.expansions import build_expansions
from synth_assets.assets.filtered import build_filtered
from synth_assets.filters.apply import apply_filters
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.budget import teacher_budget
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import SpecError, load_spec
from synth_assets.strategies.expand import expand
from synth_assets.strategies.label_check import DEFAULT_CHECK_MARK, label_checked

SEEDS = pl.DataFrame({"seed_id": ["s1", "s2", "s3", "s4"],
                      "input": ["Rotten tomatoes, mushy and sour.", "Lovely tea, great every morning.",
                                "Stale chips, awful.", "Wonderful coffee, the best."],
                      "target": ["other", "great", "other", "great"]})
# s1's rewrite lost its meaning, as a 135M rewrite of a review once did; the others keep theirs
REWRITES = {"Rotten tomatoes": "The Ian Fleming estate has been renovated with a new lease of luxury.",
            "Lovely tea": "A lovely tea, great each morning.", "Stale chips": "The chips were stale and awful.",
            "Wonderful coffee": "A wonderful coffee, simply the best."}


class RewritingTeacher(ScriptedTeacher):
    """Rewrites from REWRITES; scores 'no' (other) high for texts saying sour/stale/awful, else 'yes' (great)."""

    def reply(self, r: GenerationRequest) -> GenerationResult:
        prompt = r.messages[0][1]
        if r.choices:
            negative = any(w in prompt.split("Text:")[-1].lower() for w in ("sour", "stale", "awful"))
            return GenerationResult(text=None, choice_logprobs={"yes": -3.0 if negative else -0.1, "no": -0.1 if negative else -3.0})
        return GenerationResult(text=next(v for k, v in REWRITES.items() if k in prompt))


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
    # label + rephrase, verify_label unset: now checked
    by_default = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "samples": 2}]))
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


@pytest.mark.parametrize("verify_label", [None, False])
def test_a_rewrite_that_lost_its_meaning_keeps_its_label_only_unchecked(tmp_path: Path, verify_label: bool | None) -> None:
    rephrase = {"name": "rephrase"} if verify_label is None else {"name": "rephrase", "verify_label": verify_label}
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, rephrase],
                                filters={"confidence": {"min_precision": 0.75, "min_support": 2}}))
    df, _ = expand(spec, SEEDS, TeacherSession(RewritingTeacher(), TeacherCache(tmp_path / "w"), 8, teacher_budget(spec)))
    filtered, _ = apply_filters(df, SEEDS, spec)
    verdicts = dict(filtered.filter(pl.col("strategy") == "rephrase").select("seed_id", "reject_reason").iter_rows())
    if verify_label is None:  # the default: the teacher reads the rewrite as 'great', not the seed's 'other'
        assert verdicts == {"s1": "teacher_disagrees", "s2": None, "s3": None, "s4": None}
    else:
        assert verdicts == {"s1": None, "s2": None, "s3": None, "s4": None}
