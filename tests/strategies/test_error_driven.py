"""error_driven (LLM2LLM): fires only on student errors; new similar examples aimed at the same mistake."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from spec_helpers import write_spec
from synth_assets.inference.base import GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.inference.fake_backend import FakeBackend
from synth_assets.spec import StrategySpec, load_spec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.expand import expand

STRATEGY = STRATEGIES["error_driven"]


def test_fires_only_on_seeds_carrying_a_wrong_prediction() -> None:
    assert not STRATEGY.applies_to(Seed("s", "text", "great"))
    assert not STRATEGY.applies_to(Seed("s", "text", None, "other"))
    assert STRATEGY.applies_to(Seed("s", "text", "great", "other"))


@pytest.mark.parametrize("task", ["classification", "math"])
def test_prompt_shows_the_answer_and_the_students_mistake(tmp_path: Path, task: str) -> None:
    spec = spec_for(task, tmp_path)
    for record in records("error_driven", task):
        prompt = rendered_prompt(spec, record)
        assert prompt == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        seed = record["seed"]
        shown = seed["prediction"] if task == "math" else spec.word_for(seed["prediction"])
        assert f"answered {shown}" in prompt[0][1] or f'answered "{shown}"' in prompt[0][1]


def test_long_math_prediction_is_reduced_to_its_answer(tmp_path: Path) -> None:
    spec = spec_for("math", tmp_path)
    seed = Seed("m1", "Two plus two?", "4", "First I add two and two... " * 40 + "so it is 5")
    prompt = STRATEGY.request(spec, StrategySpec(name="error_driven"), seed, 0).messages[0][1]
    assert "answered 5." in prompt and "First I add" not in prompt


@pytest.mark.parametrize("task", ["classification", "math"])
def test_real_replies_echoing_the_placeholder_are_error_rows(tmp_path: Path, task: str) -> None:
    # SmolLM2-135M returned the prompt's own JSON template: valid JSON, but no content
    spec = spec_for(task, tmp_path)
    for record in records("error_driven", task):
        parsed = STRATEGY.parse(spec, seed_of(record), reply(record))
        assert parsed.error and "placeholder" in parsed.error and parsed.input is None
        assert parsed.parts == {"student_prediction": record["seed"]["prediction"]}


def test_well_formed_replies(tmp_path: Path) -> None:
    cls, math = spec_for("classification", tmp_path / "c"), spec_for("math", tmp_path / "m")
    seed = Seed("c1", "Not bad at all, I'd buy it again.", "great", "other")
    parsed = STRATEGY.parse(cls, seed, GenerationResult(text='{"text": "Not the worst tea, honestly I will reorder."}'))
    assert (parsed.input, parsed.target, parsed.error) == ("Not the worst tea, honestly I will reorder.", "great", None)
    text = json.dumps({"problem": "Ann gave 5 pens away and has 7. How many had she?", "solution": "7 + 5 = 12\n#### 12"})
    parsed = STRATEGY.parse(math, Seed("m1", "x", "51", "38"), GenerationResult(text=text))
    assert parsed.target == "7 + 5 = 12\n#### 12" and parsed.error is None


def test_expand_reads_predictions_from_the_seeds_frame(tmp_path: Path) -> None:
    # no label strategy to check the new texts with: this test reads only which seeds the strategies fire on
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "error_driven", "verify_label": False},
                                                      {"name": "rephrase", "verify_label": False}]))
    seeds = pl.DataFrame({"seed_id": ["s1", "s2"], "input": ["Lovely tea, will buy again.", "Stale chips."],
                          "target": ["great", "other"], "prediction": ["other", None]})
    df, _ = expand(spec, seeds, TeacherSession(FakeBackend(), TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert df.filter(pl.col("strategy") == "error_driven")["seed_id"].to_list() == ["s1"]
    assert df.filter(pl.col("strategy") == "rephrase").height == 2
    # without the column (an ordinary seeds table) nothing is error-driven
    plain, _ = expand(spec, seeds.drop("prediction"), TeacherSession(FakeBackend(), TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert plain.filter(pl.col("strategy") == "error_driven").height == 0


def test_a_round_of_student_errors_drives_it(tmp_path: Path) -> None:
    from dagster import DagsterInstance

    from pipeline_helpers import run_pipeline, table

    strategies = [{"name": "label"}, {"name": "rephrase"}, {"name": "error_driven"}]
    spec = load_spec(write_spec(tmp_path, strategies=strategies,
                                rounds={"max_rounds": 1, "strategy": {"name": "error_driven"}, "uncertain_below": 0.9}))
    warehouse = tmp_path / "warehouse"
    assert run_pipeline(spec, warehouse, instance=DagsterInstance.ephemeral()).success
    errors = table(warehouse, spec, "student_errors_r1")
    rounds = table(warehouse, spec, "expansions_r1")
    assert errors.height > 0 and rounds.height == errors.height  # one error-driven call per student error
    assert (rounds["strategy"] == "error_driven").all() and set(rounds["seed_id"]) == set(errors["seed_id"])
    predictions = dict(errors.select("seed_id", "prediction").iter_rows())
    for row in rounds.iter_rows(named=True):
        assert json.loads(row["parts"]) == {"student_prediction": predictions[row["seed_id"]]}
    # listed among the ordinary strategies too, it made nothing there: ordinary seeds carry no prediction
    assert "error_driven" not in set(table(warehouse, spec, "expansions")["strategy"])
