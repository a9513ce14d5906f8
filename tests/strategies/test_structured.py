"""Structured replies: validated against the strategy's schema, retried once with the error, then an error row."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scripted_teacher import ScriptedTeacher
from spec_helpers import write_spec
from synth_assets.inference.base import GenerationRequest, GenerationResult
from synth_assets.inference.cache import TeacherCache
from synth_assets.inference.session import TeacherSession
from synth_assets.inference.budget import teacher_budget
from synth_assets.spec import load_spec
from synth_assets.strategies.expand import expand
from synth_assets.strategies.new_question import NewText
from synth_assets.strategies.structured import parse_json_reply


@pytest.mark.parametrize("reply, text, error", [
    ('{"text": "A crunchy new snack."}', "A crunchy new snack.", None),
    ('Sure! ```json\n{"text": "Fresh tea."}\n```', "Fresh tea.", None),
    ("Here is a review about tea.", None, "no JSON object in the reply"),
    ('{"text": "unterminated}', None, "invalid JSON"),
    ('{"text": }', None, "invalid JSON"),
    ('{"review": "wrong key"}', None, "schema: text: Field required"),
    ('{"text": ""}', None, "schema: text"),
    ("", None, "empty reply"),
])
def test_parse_json_reply(reply: str, text: str | None, error: str | None) -> None:
    parsed, err = parse_json_reply(reply, NewText)
    assert (parsed.text if parsed else None) == text
    assert (err or "").startswith(error or "") and (err is None) == (error is None)


class ScriptedBackend(ScriptedTeacher):
    """Answers prose first; JSON only when the conversation carries the correction turn."""

    def __init__(self, fix: bool) -> None:
        super().__init__()
        self.fix = fix

    def reply(self, r: GenerationRequest) -> GenerationResult:
        corrected = len(r.messages) > 1 and "JSON schema" in r.messages[-1][1]
        text = '{"text": "A brand new review of salted nuts."}' if corrected and self.fix else "I love this product!"
        return GenerationResult(text=text, tokens_in=10, tokens_out=5)


def _seeds() -> pl.DataFrame:
    return pl.DataFrame({"seed_id": ["s1", "s2"], "input": ["Great crackers", "Stale chips"], "target": ["great", "other"]})


@pytest.mark.parametrize("fix", [True, False])
def test_failed_schema_is_retried_once_with_the_error(tmp_path: Path, fix: bool) -> None:
    # no label strategy to check the new texts with: this test counts the generation calls and their one retry
    spec = load_spec(write_spec(tmp_path, strategies=[{"name": "new_question", "verify_label": False}]))
    backend = ScriptedBackend(fix=fix)
    df, stats = expand(spec, _seeds(), TeacherSession(backend, TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert len(backend.seen) == 4 and stats.calls == 4  # 2 first attempts + 2 retries, no more
    retry = backend.seen[2]
    assert retry.messages[1] == ("assistant", "I love this product!") and "no JSON object" in retry.messages[2][1]
    assert (df["attempts"] == 2).all() and (df["tokens_out"] == 10).all()
    if fix:
        assert df["error"].null_count() == 2 and df["input"].to_list() == ["A brand new review of salted nuts."] * 2
        assert df["target"].to_list() == ["great", "other"]
    else:
        assert df["error"].to_list() == ["no JSON object in the reply"] * 2 and df["input"].null_count() == 2
    # the retries are cached like any call: a rerun makes no calls at all
    again, stats2 = expand(spec, _seeds(), TeacherSession(backend, TeacherCache(tmp_path / "wh"), 4, teacher_budget(spec)))
    assert stats2.calls == 0 and again.drop("cache_hit").equals(df.drop("cache_hit"))
