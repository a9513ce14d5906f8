"""The checkpoint cache trains once per key and reuses the directory afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_assets.storage.checkpoints import cached_checkpoint, checkpoint_key
from synth_assets.training.base import TrainConfig, TrainReport


def test_same_key_trains_once(tmp_path: Path) -> None:
    trained: list[Path] = []

    def train(out: Path) -> TrainReport:
        trained.append(out)
        (out / "weights.bin").write_bytes(b"w")
        return TrainReport(train_loss=0.5, seconds=1.0, steps=3, n_rows=10)

    key = checkpoint_key("v1", {"epochs": 1}, "base")
    path, manifest, hit = cached_checkpoint(tmp_path, key, train, {"variant": "x"})
    assert not hit and manifest["train_loss"] == 0.5 and (path / "model" / "weights.bin").exists()
    path2, manifest2, hit2 = cached_checkpoint(tmp_path, key, train, {"variant": "x"})
    assert hit2 and path2 == path and manifest2 == manifest and len(trained) == 1
    assert checkpoint_key("v2", {"epochs": 1}, "base") != key
    assert checkpoint_key("v1", {"epochs": 2}, "base") != key
    assert checkpoint_key("v1", {"epochs": 1}, "other") != key


def test_failed_training_leaves_nothing_to_reuse(tmp_path: Path) -> None:
    def boom(out: Path) -> TrainReport:
        (out / "partial").write_text("half")
        raise RuntimeError("killed")

    key = checkpoint_key("v", {}, "b")
    with pytest.raises(RuntimeError):
        cached_checkpoint(tmp_path, key, boom, {})
    ok = lambda out: TrainReport(0.1, 0.1, 1, 1)  # noqa: E731
    _, _, hit = cached_checkpoint(tmp_path, key, ok, {})
    assert not hit


def test_classifier_checkpoint_keys_survive_the_causal_lm_fields() -> None:
    # Keys computed before TrainConfig grew the causal_lm fields: an unchanged encoder/TF-IDF config must
    # keep its key, or every existing student would retrain for nothing. The encoder's key moved once on
    # purpose, from 4d68f15eedf019e517f9, when its batches became length-sorted (KIND_CODE_VERSIONS).
    for config, before in [
        (TrainConfig(kind="encoder_classifier"), "4c6b932dcb7befdd3093"),
        (TrainConfig(kind="tfidf_logreg", seed=3, epochs=2), "0312311da20848ba94d7"),
    ]:
        assert checkpoint_key("v1", config.as_dict(), config.base_model) == before
    # The new fields are ignored by classifiers, so setting them cannot change a classifier's key either.
    lora = TrainConfig(kind="encoder_classifier", finetune="full", lora_r=64)
    assert checkpoint_key("v1", lora.as_dict(), lora.base_model) == "4c6b932dcb7befdd3093"


def test_causal_lm_keys_follow_every_finetuning_field() -> None:
    base = TrainConfig(kind="causal_lm")
    key = checkpoint_key("v1", base.as_dict(), base.base_model)
    for change in [{"finetune": "full"}, {"lora_r": 16}, {"target_modules": ("q_proj",)}, {"max_steps": 5},
                   {"grad_accum": 2}, {"lora_dropout": 0.0}, {"lora_alpha": 8}]:
        changed = TrainConfig(kind="causal_lm", **change)  # type: ignore[arg-type]
        assert checkpoint_key("v1", changed.as_dict(), changed.base_model) != key, change
