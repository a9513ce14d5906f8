"""rounds.mixture is refused at load, naming the field, wherever the gap cannot be measured or has nothing to split."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec_helpers import write_math_spec, write_spec
from synth_assets.spec import SpecError, load_spec

MIXTURE = {"by": "label", "seeds_per_round": 4}


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value)


def test_a_mixture_spec_loads_with_its_defaults(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, rounds={"max_rounds": 2, "strategy": {"name": "rephrase"}, "mixture": MIXTURE}))
    mixture = spec.rounds.mixture
    assert (mixture.by, mixture.mode, mixture.seeds_per_round, mixture.smoothing) == ("label", "gap", 4, 0.05)


def test_slices_other_than_label_and_source_file_are_refused(tmp_path: Path) -> None:
    msg = _error(write_spec(tmp_path, rounds={"max_rounds": 1, "mixture": {"by": "domain", "seeds_per_round": 4}}))
    assert "rounds.mixture.by" in msg and "'domain' is not a slice" in msg and "label, source_file" in msg


@pytest.mark.parametrize(("mixture", "field"), [
    ({"by": "label"}, "rounds.mixture.seeds_per_round"),
    ({"seeds_per_round": 0}, "rounds.mixture.seeds_per_round"),
    ({"seeds_per_round": 4, "smoothing": 0}, "rounds.mixture.smoothing"),
    ({"seeds_per_round": 4, "mode": "uniform"}, "rounds.mixture.mode"),
    ({"seeds_per_round": 4, "weight": 1}, "rounds.mixture.weight"),
])
def test_bad_mixture_fields_are_named(tmp_path: Path, mixture: dict, field: str) -> None:
    assert field in _error(write_spec(tmp_path, rounds={"max_rounds": 1, "mixture": mixture}))


def test_a_mixture_needs_rounds_with_an_error_strategy(tmp_path: Path) -> None:
    assert "rounds.mixture: the mixture splits the student errors" in _error(write_spec(tmp_path, rounds={"mixture": MIXTURE}))
    no_strategy = {"max_rounds": 1, "strategy": None, "active": {"pool_rows": 5}, "mixture": MIXTURE}
    assert "set rounds.max_rounds >= 1 and rounds.strategy" in _error(write_spec(tmp_path, rounds=no_strategy))


def test_a_mixture_needs_teacher_label_scores(tmp_path: Path) -> None:
    no_label = write_spec(tmp_path, strategies=[{"name": "rephrase"}], rounds={"max_rounds": 1, "mixture": MIXTURE})
    assert "rounds.mixture: the gap is measured on the teacher's labels of the labelled seeds; add a `label` strategy" in _error(no_label)
    math = write_math_spec(tmp_path / "math", rounds={"max_rounds": 1, "mixture": {"by": "source_file", "seeds_per_round": 2}})
    msg = _error(math)
    assert "rounds.mixture: the gap is measured on teacher labels, which a 'math' task has not" in msg
