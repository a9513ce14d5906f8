"""Self-consistency votes: generated math problems are solved again, through the cache, answers in parts.votes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from scripted_teacher import ScriptedTeacher
from spec_helpers import write_math_spec, write_spec
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.spec import SpecError, load_spec
from synth_assets.strategies.expand import expand

SEEDS = pl.DataFrame({"seed_id": ["m1", "m2"], "input": ["Tom has 3 apples and gets 5 more. How many?", "Ann has 9 pens, gives 4. How many?"],
                      "target": ["8", "5"]})


class ScriptedBackend(ScriptedTeacher):
    """New problems as JSON; re-solves answer 8, 8, then 3 (by sample seed), so the votes are known."""

    def reply(self, r: GenerationRequest) -> GenerationResult:
        prompt = r.messages[0][1]
        if prompt.startswith("Solve the following"):
            text = "Adding up gives the total.\n#### " + ("3" if r.params.seed == 2 else "8")
        else:
            problem = "Mia has 2 cats and adopts 6 more. How many cats?" if "Tom" in prompt else "Bo has 10 cups and breaks 2. How many?"
            text = json.dumps({"problem": problem, "solution": "2 + 6 = 8\n#### 8"})
        return GenerationResult(text=text, tokens_in=10, tokens_out=4)


def test_each_new_problem_is_solved_votes_times(tmp_path: Path) -> None:
    spec = load_spec(write_math_spec(tmp_path, strategies=[{"name": "new_question", "votes": 3}]))
    backend = ScriptedBackend()
    df, stats = expand(spec, SEEDS, TeacherSession(backend, TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert stats.calls == 2 + 2 * 3 and len(backend.seen) == 8
    for row in df.iter_rows(named=True):
        assert json.loads(row["parts"])["votes"] == ["8", "8", "3"]
        assert row["tokens_out"] == 4 * (1 + 3)  # the row's own call plus its three votes
    solves = [r for r in backend.seen if r.messages[0][1].startswith("Solve the following")]
    assert {r.messages[0][1].split("Problem: ")[1] for r in solves} == set(df["input"])
    # a rerun is served by the cache, votes included
    again, stats = expand(spec, SEEDS, TeacherSession(ScriptedBackend(), TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert stats.calls == 0 and again["parts"].to_list() == df["parts"].to_list()


def test_error_rows_get_no_votes(tmp_path: Path) -> None:
    class Prose(ScriptedTeacher):
        def reply(self, request: GenerationRequest) -> GenerationResult:
            return GenerationResult(text="I'm ready to help. What's your math word problem?")

    spec = load_spec(write_math_spec(tmp_path, strategies=[{"name": "new_question", "votes": 2}]))
    backend = Prose()
    df, _ = expand(spec, SEEDS, TeacherSession(backend, TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert df["error"].null_count() == 0 and df["parts"].null_count() == df.height
    assert len(backend.seen) == 4  # first attempts and their structured retries, no solves


@pytest.mark.parametrize(("writer", "strategy"), [(write_math_spec, "answer_augment"), (write_spec, "new_question")])
def test_votes_only_for_strategies_that_write_new_math_problems(tmp_path: Path, writer, strategy: str) -> None:
    with pytest.raises(SpecError, match=r"strategies\.0\.votes: only strategies that write new math problems"):
        load_spec(writer(tmp_path, strategies=[{"name": strategy, "votes": 2}]))
