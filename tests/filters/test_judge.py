"""The LLM judge: score parsing (real SmolLM2 replies and malformed ones), agreement with known labels, verdicts."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recorded_replies import records
from scripted_teacher import ScriptedTeacher
from spec_helpers import write_math_spec, write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.filters.judge import agreement, judge_request, judge_rows, parse_score, wrong_target
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.spec import load_spec


@pytest.mark.parametrize(("reply", "score"), [
    ("4", 4),
    ("Rating: 5", 5),
    ('{"score": 2}', 2),
    ("I would rate this 3 out of 5.", 3),
    ("On a scale of 1 to 5, my rating is 4.", 4),
    ("4 - the label fits.", 4),
    ("**3**", 3),
    ("2/5 - the label is wrong.", 2),
    ("Score: 10", None),
    ("The answer is right.", None),
    ("151", None),
    ("2.5", None),
    ("The correct answer is 5.", None),  # a number in prose is not a score
    ("", None),
    (None, None),
])
def test_parse_score(reply, score) -> None:
    got, error = parse_score(reply)
    assert got == score and (error is None) == (score is not None)


def _specs(tmp_path: Path):
    for sub in ("c", "m"):
        (tmp_path / sub).mkdir()
    return load_spec(write_spec(tmp_path / "c")), load_spec(write_math_spec(tmp_path / "m"))


def test_prompts_render_as_recorded(tmp_path: Path) -> None:
    specs = dict(zip(("classification", "math"), _specs(tmp_path)))
    for task, spec in specs.items():
        for r in records("judge", task):
            req = judge_request(spec, r["seed"]["input"], r["seed"]["target"])
            assert [list(m) for m in req.messages] == r["messages"], "template changed: rerun scripts/record_strategy_replies.py"
            assert req.params.temperature == 0.0


def test_real_smollm2_replies_give_a_score_or_an_error() -> None:
    # the 135M model mostly answers in prose ('The correct answer is 5.', '151'): only a reply that
    # starts with a digit gives a score; the others are judge errors, not crashes and not fives
    replies = [r["reply"] for task in ("classification", "math") for r in records("judge", task)]
    parsed = [parse_score(text) for text in replies]
    assert replies[0].startswith("1\n") and parsed[0] == (1, None)
    assert all(score is None and error for score, error in parsed[1:])


def test_agreement_on_a_known_confusion() -> None:
    # 8 pairs, 6 agreeing; both sides say 'yes' half the time, so chance agreement is 0.5: kappa = (0.75-0.5)/0.5
    truth = [True, True, True, True, False, False, False, False]
    judge = [True, True, True, False, False, False, True, False]
    assert agreement(truth, judge) == {"n": 8, "kappa": pytest.approx(0.5), "percent_agreement": 0.75}
    assert agreement(truth, [True] * 8)["kappa"] == 0.0  # a judge that accepts everything knows nothing
    assert agreement([True, True], [True, True])["kappa"] is None  # undefined, not nan
    assert agreement([], []) == {"n": 0, "kappa": None, "percent_agreement": None}


def test_wrong_targets_are_wrong(tmp_path: Path) -> None:
    cls, math = _specs(tmp_path)
    assert wrong_target(cls, "s1", "great") == "other" and wrong_target(cls, "s1", "other") == "great"
    wrong = {wrong_target(math, f"s{i}", "51") for i in range(20)}
    assert "51" not in wrong and all(52 <= int(w) <= 60 for w in wrong) and len(wrong) > 1
    assert wrong_target(math, "s1", "2.5") != "2.5"


class TruthfulJudge(ScriptedTeacher):
    """Knows the seeds' labels: 5 for a right pair, 1 for a wrong one, prose for one text it cannot read."""

    model_id = "truthful@1"

    def __init__(self, truth: dict[str, str]) -> None:
        super().__init__()
        self.truth = truth

    def reply(self, r: GenerationRequest) -> GenerationResult:
        prompt = r.messages[0][1]
        text = prompt.split("Text: ")[1].split("\n\nProposed answer: ")[0]
        shown = prompt.split("Proposed answer: ")[1].split("\n")[0]
        if text.startswith("Unreadable"):
            return GenerationResult(text="I cannot tell.")
        return GenerationResult(text="Rating: 5" if self.truth.get(text, "yes") == shown else "1", tokens_in=5)


def _judge_spec(tmp_path: Path):
    return load_spec(write_spec(tmp_path, filters={"validity": {"min_chars": 1}, "judge": {"enabled": True, "calibration_seeds": 4}}))


def test_judge_rows_score_candidates_and_measure_the_judge(tmp_path: Path) -> None:
    spec = _judge_spec(tmp_path)
    seeds = pl.DataFrame({"seed_id": ["a", "b", "c", "d", "e"], "input": ["Great tea", "Stale chips", "Fine snack", "Bad jam", "Pool text"],
                          "target": ["great", "other", "great", "other", None]})
    expansions = pl.DataFrame({
        "row_id": ["r1", "r2", "r3", "r4", "r5"], "seed_id": ["a", "b", "e", "a", "a"], "sample_idx": [0, 0, 0, 0, 1],
        "strategy": ["rephrase", "rephrase", "label", "label", "rephrase"],
        "input": ["Superb tea", "Old chips", "Pool text", "Great tea", "Unreadable"],
        "target": ["great", "great", "other", "great", "great"], "error": [None, None, None, None, None],
    }, schema_overrides={"error": pl.String})
    truth = {"Great tea": "yes", "Stale chips": "no", "Fine snack": "yes", "Bad jam": "no", "Superb tea": "yes", "Old chips": "no",
             "Pool text": "no"}
    df, report, stats = judge_rows(spec, expansions, seeds, TeacherSession(TruthfulJudge(truth), TeacherCache(tmp_path / "wh"), 3))
    judged = df.filter(pl.col("kind") == "expansion").sort("row_id")
    # r4 is the teacher's label of a labelled seed: it measures the teacher and is not judged
    assert judged["row_id"].to_list() == ["r1", "r2", "r3", "r5"]
    assert judged["judge_score"].to_list() == [5, 1, 5, None] and judged["error"][3].startswith("no score")
    calibration = df.filter(pl.col("kind") == "calibration")
    assert calibration.height == 8 and calibration["correct"].sum() == 4
    assert report.kappa == 1.0 and report.percent_agreement == 1.0 and report.n == 8
    assert stats.calls == 12
    _, _, again = judge_rows(spec, expansions, seeds, TeacherSession(TruthfulJudge(truth), TeacherCache(tmp_path / "wh"), 3))
    assert again.calls == 0 and again.cache_hits == 12  # judge calls go through the teacher cache

    filtered, report = apply_filters(expansions.with_columns(pl.lit(None, pl.Float64).alias("confidence"),
                                                             pl.lit(None, pl.String).alias("label_scores")),
                                     seeds, spec, judgements=df)
    reasons = dict(filtered.select("row_id", "reject_reason").iter_rows())
    assert reasons["r2"] == "low_judge_score" and reasons["r5"] == "judge_error" and reasons["r1"] is None
    assert dict(filtered.select("row_id", "judge_score").iter_rows())["r1"] == 5


def test_judge_off_leaves_verdicts_alone(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    seeds = pl.DataFrame({"seed_id": ["a"], "input": ["Great tea, lovely"], "target": ["great"]})
    expansions = pl.DataFrame({"row_id": ["r1"], "seed_id": ["a"], "strategy": ["rephrase"], "sample_idx": [0],
                               "input": ["Superb tea, lovely"], "target": ["great"], "error": [None], "confidence": [None],
                               "label_scores": [None]},
                              schema_overrides={"error": pl.String, "confidence": pl.Float64, "label_scores": pl.String})
    filtered, _ = apply_filters(expansions, seeds, spec)
    assert filtered["accepted"].to_list() == [True] and filtered["judge_score"].null_count() == 1
