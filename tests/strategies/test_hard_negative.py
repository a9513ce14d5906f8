"""hard_negative: minimal rewrites that flip a seed's label, kept only when the teacher's own label agrees."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recorded_replies import records, rendered_prompt, reply, seed_of, spec_for
from scripted_teacher import ScriptedTeacher
from spec_helpers import write_spec
from synth_assets.filters.apply import apply_filters
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.spec import StrategySpec, load_spec
from synth_assets.strategies import STRATEGIES, Seed
from synth_assets.strategies.expand import expand

STRATEGY = STRATEGIES["hard_negative"]
SEEDS = pl.DataFrame({
    "seed_id": ["s1", "s2", "s3", "s4"],
    "input": ["I love this tea, great taste every morning.", "Stale chips, awful, never again.",
              "Wonderful coffee, best I have had.", "The cookies were awful and dry."],
    "target": ["great", "other", "great", "other"],
})
# what the teacher writes for each seed: a real flip (s1, s4), an unchanged echo (s2), a failed flip (s3)
REWRITES = {"I love this tea": "I hate this tea, awful taste every morning.",
            "Stale chips": "Stale chips, awful, never again!",
            "Wonderful coffee": "Wonderful coffee, the best I have had, truly.",
            "The cookies": "The cookies were lovely and soft."}


class RewritingTeacher(ScriptedTeacher):
    """Rewrites from REWRITES; scores 'no' (other) high for texts saying awful/stale/hate, else 'yes' (great)."""

    def reply(self, r: GenerationRequest) -> GenerationResult:
        prompt = r.messages[0][1]
        if r.choices:
            negative = any(w in prompt.split("Text:")[-1].lower() for w in ("awful", "stale", "hate"))
            return GenerationResult(text=None, choice_logprobs={"yes": -3.0 if negative else -0.1,
                                                                "no": -0.1 if negative else -3.0}, tokens_in=7)
        return GenerationResult(text=next(v for k, v in REWRITES.items() if k in prompt), tokens_in=20, tokens_out=9)


def _spec(tmp_path: Path, **strategy):
    return load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "hard_negative", **strategy}],
                                filters={"confidence": {"min_precision": 0.75, "min_support": 2}}))


def test_the_flipped_label_is_the_students_confusion_else_the_next_label(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, labels=["pos", "neg", "mixed"], label_words={}))
    assert STRATEGY.parse(spec, Seed("s", "Fine tea.", "pos"), GenerationResult(text="Awful tea.")).target == "neg"
    assert STRATEGY.parse(spec, Seed("s", "Fine tea.", "mixed"), GenerationResult(text="Awful tea.")).target == "pos"
    confused = Seed("s", "Fine tea.", "pos", prediction="mixed")
    assert STRATEGY.parse(spec, confused, GenerationResult(text="Fine tea, mostly.")).target == "mixed"
    prompt = STRATEGY.request(spec, StrategySpec(name="hard_negative"), confused, 0).messages[0][1]
    assert 'is "pos"' in prompt and 'becomes "mixed"' in prompt


def test_real_smollm2_replies(tmp_path: Path) -> None:
    spec = spec_for("classification", tmp_path)
    parsed = []
    for record in records("hard_negative", "classification"):
        assert rendered_prompt(spec, record) == record["messages"], "template changed: rerun scripts/record_strategy_replies.py"
        parsed.append(STRATEGY.parse(spec, seed_of(record), reply(record)))
    # SmolLM2-135M echoed the first review (with the frame around it) and cut the second one short
    # while announcing an answer: the echo is an error row, the frame and the announcement are stripped
    assert parsed[0].error == "rewrite left the seed unchanged" and parsed[0].input is None
    assert parsed[1].error is None and parsed[1].input == "The chips arrived stale and half of them were broken."
    assert parsed[1].target == "great" and parsed[1].parts == {"contrast_of": "c2", "seed_label": "other"}


def test_malformed_replies_are_error_rows(tmp_path: Path) -> None:
    spec = spec_for("classification", tmp_path)
    seed = Seed("s", "Great tea.", "great")
    assert STRATEGY.parse(spec, seed, GenerationResult(text="  ")).error == "empty rewrite"
    assert STRATEGY.parse(spec, seed, GenerationResult(text='Text: "great TEA!"')).error == "rewrite left the seed unchanged"


def test_the_teacher_labels_each_rewrite_and_only_agreeing_ones_pass(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    teacher, cache = RewritingTeacher(), TeacherCache(tmp_path / "w")
    df, _ = expand(spec, SEEDS, TeacherSession(teacher, cache, 8, teacher_budget(spec)))
    hard = df.filter(pl.col("strategy") == "hard_negative").sort("seed_id")
    # one generation plus one label check per parsed rewrite, the check priced into the row
    assert hard["label_scores"].is_not_null().to_list() == [True, False, True, True]
    assert hard.filter(pl.col("seed_id") == "s1")["tokens_in"][0] == 20 + 7
    filtered, report = apply_filters(df, SEEDS, spec)
    verdicts = dict(filtered.filter(pl.col("strategy") == "hard_negative").select("seed_id", "reject_reason").iter_rows())
    assert verdicts == {"s1": None, "s2": "teacher_error: rewrite left the seed unchanged", "s3": "teacher_disagrees", "s4": None}
    kept = filtered.filter(pl.col("strategy") == "hard_negative", pl.col("accepted")).sort("seed_id")
    assert kept["target"].to_list() == ["other", "great"] and kept["teacher_label"].to_list() == ["other", "great"]
    assert report.confidence["threshold"] == 0.0

    # a second run makes no call: the rewrites and their checks come from the cache
    before = len(teacher.seen)
    again, stats = expand(spec, SEEDS, TeacherSession(teacher, cache, 8, teacher_budget(spec)))
    assert len(teacher.seen) == before and again["label_scores"].equals(df["label_scores"])


def test_an_unchecked_claim_is_taken_only_when_verify_label_is_off(tmp_path: Path) -> None:
    spec = _spec(tmp_path, verify_label=False)
    df, _ = expand(spec, SEEDS, TeacherSession(RewritingTeacher(), TeacherCache(tmp_path / "w"), 8, teacher_budget(spec)))
    hard = df.filter(pl.col("strategy") == "hard_negative")
    assert hard["label_scores"].is_null().all()
    filtered, _ = apply_filters(df, SEEDS, spec)
    assert filtered.filter(pl.col("strategy") == "hard_negative", pl.col("accepted")).height == 3  # s3's failed flip too


def test_a_failed_label_check_rejects_the_row(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    df, _ = expand(spec, SEEDS, TeacherSession(RewritingTeacher(), TeacherCache(tmp_path / "w"), 8, teacher_budget(spec)))
    lost = df.with_columns(pl.when(pl.col("seed_id") == "s1").then(None).otherwise(pl.col("label_scores")).alias("label_scores"))
    filtered, _ = apply_filters(lost, SEEDS, spec)
    row = filtered.filter(pl.col("strategy") == "hard_negative", pl.col("seed_id") == "s1")
    assert row["reject_reason"][0] == "label_check_failed"


def test_label_checks_follow_the_config_of_the_round_that_made_the_row(tmp_path: Path) -> None:
    # round 0 rephrases unchecked; the rounds' rephrase is checked: an unchecked round-1 row is rejected
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "label"}, {"name": "rephrase", "verify_label": False}],
                                rounds={"max_rounds": 1, "strategy": {"name": "rephrase", "verify_label": True}},
                                filters={"confidence": {"min_precision": 0.5, "min_support": 2}}))
    rows = pl.DataFrame({"row_id": ["r0", "r1"], "seed_id": ["s1", "s1"], "strategy": ["rephrase"] * 2, "sample_idx": [0, 0],
                         "input": ["I adore this tea, great taste every day.", "This tea is lovely every single morning."],
                         "target": ["great", "great"], "error": [None, None], "confidence": [None, None],
                         "label_scores": [None, None], "round": [0, 1]},
                        schema_overrides={"error": pl.String, "confidence": pl.Float64, "label_scores": pl.String})
    filtered, _ = apply_filters(rows, SEEDS, spec)
    assert dict(filtered.select("row_id", "reject_reason").iter_rows()) == {"r0": None, "r1": "label_check_failed"}


# Real SmolLM2-135M replies from a run of synth_assets/pipelines/sentiment_active.yaml
REAL_REPLIES = [
    ('Rewrite the text to achieve "bad" style while keeping the subject and topic of the original text intact. '
     'Here is the rewritten text: I recently discovered that one of the hottest and most innovative products is awful.',
     "I recently discovered that one of the hottest and most innovative products is awful."),
    ('Rewrite the text to achieve "bad" instead of "great", and provide the rewritten text to include the words "no" '
     'and "more than 5 months" to reflect the idea of "very little" in the original text.', None),
    ("The Great Product Review: This product had a very strange flavor to it. Perhaps it's a mistake somewhere.",
     "This product had a very strange flavor to it. Perhaps it's a mistake somewhere."),
]


def test_instruction_echoes_and_headings_are_not_rewrites(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, label_words={"great": "great", "other": "bad"}))
    seed = Seed("s", "An unrelated seed review about frozen sorbet treats.", "great")
    for reply_text, expected in REAL_REPLIES:
        parsed = STRATEGY.parse(spec, seed, GenerationResult(text=reply_text))
        if expected is None:
            assert parsed.input is None and parsed.error == "reply restates the instruction instead of rewriting the text"
        else:
            assert parsed.error is None and parsed.input == expected
