"""Label words at spec load: token counts for the teacher, and words its scoring rule cannot tell apart."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.pre_tokenizers import Whitespace

from spec_helpers import write_spec
from synth_assets.factory import build_definitions
from synth_assets.inference.label_words import (ChoiceCollisionError, LabelWordError, check_label_words, first_tokens,
                                                prefix_collisions)
from synth_assets.models.embedded import resolve_causal_lm
from synth_assets.spec import load_spec

VOCAB = ["[UNK]", "rest", "##aur", "##ant", "show", "##times", "weather", "great", "no"]


def tokenizer_dir(tmp_path: Path) -> Path:
    """A local model dir holding a real (tiny) WordPiece tokenizer: `restaurant` is rest|##aur|##ant."""
    tok = Tokenizer(WordPiece({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    folder = tmp_path / "teacher"
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    return folder


def _spec(tmp_path: Path, words: dict[str, str], teacher: dict):
    labels = list(words)
    return write_spec(tmp_path, labels=labels, label_words=words, teacher=teacher, strategies=[{"name": "label"}],
                      seeds=[{"path": str(_seeds(tmp_path, labels)), "input": "text", "target": "label"}],
                      eval={"path": str(_seeds(tmp_path, labels, "eval.csv")), "input": "text", "target": "label"})


def _seeds(tmp_path: Path, labels: list[str], name: str = "seeds.csv") -> Path:
    path = tmp_path / name
    rows = [f"{'find' if name == 'eval.csv' else 'show'} me something about {label} number {i},{label}"
            for i in range(3) for label in labels]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def synth_run(tmp_path: Path, spec: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", "run", "--spec", str(spec), "--warehouse",
                           str(tmp_path / "warehouse")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))


def test_prefix_collisions_are_what_a_first_token_prefix_match_cannot_separate() -> None:
    assert prefix_collisions(["rest", "Restaurant", "weather"]) == [("rest", "Restaurant")]
    assert prefix_collisions(["Yes", "yes"]) == [("Yes", "yes")]
    assert prefix_collisions(["no", "not", "neutral"]) == [("no", "not")]
    assert prefix_collisions(["great", "bad", "playlist", "music"]) == []


def test_first_tokens_keep_one_id_per_choice_and_refuse_a_shared_one() -> None:
    assert first_tokens(("great", "restaurant"), [[7], [1, 2, 3]]) == [[7], [1]]
    with pytest.raises(ChoiceCollisionError, match="'rest' and 'restaurant' start with the same token"):
        first_tokens(("rest", "restaurant"), [[1], [1, 2, 3]])


def test_synth_run_refuses_label_words_that_share_a_first_token(tmp_path: Path) -> None:
    teacher = {"backend": "transformers", "model": str(tokenizer_dir(tmp_path))}
    done = synth_run(tmp_path, _spec(tmp_path, {"food": "restaurant", "sleep": "rest"}, teacher))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert ("error: pipeline 'tiny': label_words: 'restaurant' and 'rest' both start with the token 'rest' for teacher "
            f"{teacher['model']}, and label words are scored by their first token") in done.stderr
    assert not (tmp_path / "warehouse").exists() or not list((tmp_path / "warehouse").rglob("*.parquet"))


def test_synth_run_refuses_prefix_words_for_the_openai_backend(tmp_path: Path) -> None:
    teacher = {"backend": "openai", "model": "some-served-model", "base_urls": ["http://127.0.0.1:9/v1"]}
    done = synth_run(tmp_path, _spec(tmp_path, {"no": "no", "neg": "not"}, teacher))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "error: pipeline 'tiny': label_words: 'no' begins 'not'; the openai backend matches a label word" in done.stderr


def test_token_counts_are_reported_at_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    teacher = {"backend": "transformers", "model": str(tokenizer_dir(tmp_path))}
    spec = load_spec(_spec(tmp_path, {"food": "restaurant", "film": "showtimes", "sky": "weather"}, teacher))
    with caplog.at_level(logging.INFO, logger="synth.label_words"):
        build_definitions([spec], tmp_path / "warehouse")
    [record] = [r for r in caplog.records if r.name == "synth.label_words"]
    assert record.levelno == logging.WARNING  # words of several tokens are worth knowing about
    assert record.getMessage() == (
        f"label words for teacher {teacher['model']}: 'restaurant' = 3 tokens (rest|##aur|##ant), "
        "'showtimes' = 2 tokens (show|##times), 'weather' = 1 token; 'restaurant', 'showtimes' scored by the first token")


def test_without_a_tokenizer_on_disk_only_the_word_rules_apply(tmp_path: Path) -> None:
    missing = {"backend": "transformers", "model": str(tmp_path / "not-converted-yet")}
    report = check_label_words(load_spec(_spec(tmp_path, {"food": "restaurant", "sleep": "rest"}, missing)))
    assert report is not None and report.tokens is None
    with pytest.raises(LabelWordError, match="'great' and 'Great' are the same word to the teacher"):
        check_label_words(load_spec(_spec(tmp_path, {"a": "great", "b": "Great"}, missing)))


@pytest.mark.slow
def test_smollm2_splits_intent_words_and_each_is_scored_by_its_first_token(tmp_path: Path) -> None:
    resolve_causal_lm("embedded:smollm2-135m-instruct")  # the tokenizer is on disk once the model is converted
    teacher = {"backend": "transformers", "model": "embedded:smollm2-135m-instruct"}
    words = {"w": "weather", "r": "restaurant", "s": "showtimes", "p": "playlist"}
    report = check_label_words(load_spec(_spec(tmp_path, words, teacher)))
    assert report is not None and report.tokens is not None
    assert {w: len(t) for w, t in report.tokens.items()} == {"weather": 1, "restaurant": 3, "showtimes": 2, "playlist": 1}
    with pytest.raises(LabelWordError, match="'showtimes' and 'show' both start with the token 'show'"):
        check_label_words(load_spec(_spec(tmp_path, {"s": "showtimes", "t": "show"}, teacher)))
