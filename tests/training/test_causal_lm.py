"""The causal-LM student: label masking on the real SmolLM2 tokenizer, then LoRA and full SFT that really learn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from synth_assets.inference.transformers_backend import chat_prompt_ids
from synth_assets.storage.checkpoints import MANIFEST, cached_checkpoint, checkpoint_key
from synth_assets.training.base import CAUSAL_LM_BASE_MODEL, TrainConfig
from synth_assets.training.causal_lm import ADAPTER_DIR, check_config, fit, predict, train_causal_lm
from synth_assets.training.sft_data import (
    IGNORE,
    Example,
    check_pairs,
    collate,
    encode_pair,
    encode_pairs,
    labelled_tokens,
)

# Answers the base model has no reason to give: a right answer can only come from training.
QUESTIONS = [
    "What is the secret word of the blue door?",
    "What is the secret word of the red door?",
    "What is the secret word of the green door?",
    "What is the secret word of the black door?",
]
ANSWERS = ["Pelican", "Marmalade", "Quokka", "Zeppelin"]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from synth_assets.models.embedded import local_model_dir

    return AutoTokenizer.from_pretrained(local_model_dir(CAUSAL_LM_BASE_MODEL))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_prompt_is_ignored_and_target_plus_eos_are_labelled(tokenizer: Any) -> None:
    example, truncated = encode_pair(tokenizer, "What is 2 + 2?", "Four.", max_length=128)
    assert example is not None and not truncated
    prompt = chat_prompt_ids(tokenizer, (("user", "What is 2 + 2?"),))
    target = _ids(tokenizer, "Four.") + [tokenizer.eos_token_id]
    # The prompt is exactly what the backend feeds at inference, the answer follows it, then EOS.
    assert example.input_ids == prompt + target
    assert example.labels == [IGNORE] * len(prompt) + target
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode([t for t in example.labels if t != IGNORE]) == "Four.<|im_end|>"


def test_collate_right_pads_with_masked_unlabelled_padding(tokenizer: Any) -> None:
    short = encode_pair(tokenizer, "Hi", "Yes", max_length=128)[0]
    long = encode_pair(tokenizer, "Tell me the name of the tallest mountain on Earth", "Mount Everest", 128)[0]
    assert short is not None and long is not None and len(short.input_ids) < len(long.input_ids)
    batch = collate([short, long], pad_id=tokenizer.pad_token_id)
    n = len(short.input_ids)
    assert batch["input_ids"].shape == (2, len(long.input_ids))
    assert batch["input_ids"][0, :n].tolist() == short.input_ids
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(long.input_ids) - n)
    assert batch["labels"][0, n:].eq(IGNORE).all()
    assert batch["labels"][1].tolist() == long.labels and batch["attention_mask"][1].eq(1).all()
    # "Yes" + EOS and "Mount Everest" + EOS: every target token and each EOS enter the loss, nothing else.
    expected = len(_ids(tokenizer, "Yes")) + len(_ids(tokenizer, "Mount Everest")) + 2
    assert labelled_tokens(batch) == expected


def test_long_prompt_loses_its_tail_but_keeps_the_template_and_the_whole_target(tokenizer: Any) -> None:
    prompt = "Summarise: " + " ".join(f"word{i}" for i in range(200))
    example, truncated = encode_pair(tokenizer, prompt, "A list of words.", max_length=64)
    assert truncated and example is not None
    assert len(example.input_ids) <= 64
    target = _ids(tokenizer, "A list of words.") + [tokenizer.eos_token_id]
    assert example.input_ids[-len(target):] == target and example.labels[-len(target):] == target
    assert example.labels[: -len(target)] == [IGNORE] * (len(example.input_ids) - len(target))
    text = tokenizer.decode(example.input_ids[: -len(target)])
    # the head of the user text (the instruction) and the assistant marker survive; the tail is gone
    assert "<|im_start|>user\nSummarise: word0 word1" in text and text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert "word199" not in text


def test_rows_whose_target_cannot_fit_are_dropped_and_counted(tokenizer: Any) -> None:
    long_prompt = "Explain: " + "very " * 100
    long_target = "no " * 100
    encoded = encode_pairs(tokenizer, ["Hi", long_prompt, "Hi"], ["Hello", "Short.", long_target], max_length=48)
    assert encoded.rows == [0, 1] and encoded.truncated == [1] and encoded.dropped == [2]
    assert all(len(e.input_ids) <= 48 for e in encoded.examples)
    assert isinstance(encoded.examples[0], Example)


def test_bad_pairs_and_configs_name_the_row_or_field() -> None:
    with pytest.raises(ValueError, match="row 1 has an empty target"):
        check_pairs(["a", "b"], ["x", "  "])
    with pytest.raises(ValueError, match="2 prompts but 1 targets"):
        check_pairs(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="finetune"):
        check_config(TrainConfig(kind="causal_lm", finetune="qlora"))
    with pytest.raises(ValueError, match="max_steps"):
        check_config(TrainConfig(kind="causal_lm", max_steps=0))
    with pytest.raises(ValueError, match="'encoder_classifier'"):
        check_config(TrainConfig(kind="encoder_classifier"))


def test_causal_lm_config_defaults_to_the_embedded_chat_model() -> None:
    assert TrainConfig(kind="causal_lm").base_model == CAUSAL_LM_BASE_MODEL
    assert TrainConfig(kind="causal_lm", base_model="my/model").base_model == "my/model"
    fields = TrainConfig(kind="causal_lm", finetune="full").as_dict()
    assert fields["finetune"] == "full" and fields["target_modules"] == ["all-linear"] and fields["max_steps"] is None


def _train_through_cache(root: Path, config: TrainConfig) -> tuple[Path, dict[str, Any]]:
    """Train via the checkpoint cache, as the student asset does, so the manifest is the real one."""
    key = checkpoint_key("questions-v1", config.as_dict(), config.base_model)
    path, manifest, hit = cached_checkpoint(
        root, key, lambda out: train_causal_lm(QUESTIONS, ANSWERS, config, out), {"config": config.as_dict()}
    )
    assert not hit
    return path, manifest


def _assert_learned(manifest: dict[str, Any], steps: int) -> None:
    assert manifest["steps"] == steps and manifest["n_rows"] == len(QUESTIONS) and manifest["seconds"] > 0
    assert manifest["n_dropped"] == 0 and manifest["n_truncated"] == 0 and manifest["seconds_per_step"] > 0
    # The base model has never seen these words (loss of several nats per token); a fit is far below.
    assert manifest["initial_loss"] > 2.0
    assert manifest["train_loss"] < 0.1 * manifest["initial_loss"]


@pytest.mark.slow
def test_lora_student_learns_answers_the_base_model_does_not_give(tmp_path: Path) -> None:
    config = TrainConfig(kind="causal_lm", finetune="lora", max_steps=24, learning_rate=1e-3, batch_size=8,
                         max_length=64, warmup_ratio=0.0)
    path, manifest = _train_through_cache(tmp_path, config)
    _assert_learned(manifest, steps=24)
    assert 0 < manifest["trainable_params"] < 0.05 * 134_515_008  # the adapter alone trains
    model_dir = path / "model"
    files = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "labels.json"} <= files
    # Merged: the top level is a plain model (no adapter_config.json would make transformers want peft)...
    assert "adapter_config.json" not in files
    # ...and the small adapter is kept beside it.
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in (model_dir / ADAPTER_DIR).iterdir()}
    assert json.loads((path / MANIFEST).read_text())["config"]["finetune"] == "lora"

    base = predict(CAUSAL_LM_BASE_MODEL, QUESTIONS, max_new_tokens=16)
    assert not any(answer.lower() in said.lower() for answer, said in zip(ANSWERS, base))
    assert predict(model_dir, QUESTIONS, max_new_tokens=16) == ANSWERS


@pytest.mark.slow
def test_full_finetune_learns_the_answers(tmp_path: Path) -> None:
    # Every weight moves, so a few steps at a small learning rate suffice (~8 s a step on 2 CPU cores).
    config = TrainConfig(kind="causal_lm", finetune="full", max_steps=8, learning_rate=1e-4, batch_size=8,
                         max_length=64, warmup_ratio=0.0)
    path, manifest = _train_through_cache(tmp_path, config)
    _assert_learned(manifest, steps=8)
    assert manifest["trainable_params"] > 100_000_000
    assert not (path / "model" / ADAPTER_DIR).exists()
    assert predict(path / "model", QUESTIONS, max_new_tokens=16) == ANSWERS


@pytest.mark.slow
def test_same_seed_repeats_the_same_losses() -> None:
    config = TrainConfig(kind="causal_lm", max_steps=2, learning_rate=1e-3, batch_size=2, max_length=64, seed=7)
    first = fit(QUESTIONS, ANSWERS, config)[2]
    again = fit(QUESTIONS, ANSWERS, config)[2]
    assert (again.initial_loss, again.train_loss) == (first.initial_loss, first.train_loss)
    assert first.steps == 2


@pytest.mark.slow
def test_gradient_accumulation_weighs_tokens_like_one_big_batch() -> None:
    # Same seed, same row order: one batch of 4 and two accumulated batches of 2 see the same tokens
    # (seed 1 puts the 4-token answers in one micro-batch and the 3-token ones in the other),
    # so the loss of the first step (before any update) must agree. No dropout, so nothing else differs.
    common = {"kind": "causal_lm", "max_steps": 1, "max_length": 64, "lora_dropout": 0.0, "seed": 1}
    whole = fit(QUESTIONS, ANSWERS, TrainConfig(batch_size=4, **common))[2]  # type: ignore[arg-type]
    split = fit(QUESTIONS, ANSWERS, TrainConfig(batch_size=2, grad_accum=2, **common))[2]  # type: ignore[arg-type]
    assert whole.steps == split.steps == 1
    assert split.initial_loss == pytest.approx(whole.initial_loss, rel=1e-5)
