"""The checkpoint cache trains once per key and reuses the directory afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_assets.storage.checkpoints import cached_checkpoint, checkpoint_key
from synth_assets.training.base import TrainReport


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
