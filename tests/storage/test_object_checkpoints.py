"""Checkpoints in an S3 bucket (moto server on loopback): the manifest, uploaded last, is what makes one exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s3_server import s3_env, s3_keys, s3_prefix, s3_server  # noqa: F401 (fixtures)
from synth_assets.storage.checkpoints import MANIFEST, cached_checkpoint, local_checkpoint
from synth_assets.storage.location import warehouse_location
from synth_assets.training.base import TrainReport


def _trainer(calls: list[Path]):
    def train(out: Path) -> TrainReport:
        calls.append(out)
        (out / "weights.bin").write_bytes(b"\x00" * 1000)
        (out / "labels.json").write_text('["great", "other"]')
        return TrainReport(train_loss=0.5, seconds=0.1, steps=3, n_rows=10)
    return train


def test_an_interrupted_upload_is_trained_again_and_a_complete_one_is_reused_elsewhere(
        s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = s3_prefix()
    root = warehouse_location(url)
    # a machine died after uploading the weights, before the manifest
    partial = root / "_checkpoints" / "k1" / "model" / "weights.bin"
    partial.fs.pipe_file(partial.path, b"\x01" * 10)
    with pytest.raises(FileNotFoundError, match="never completely uploaded"):
        local_checkpoint(f"{url}/_checkpoints/k1/model")

    calls: list[Path] = []
    folder, manifest, hit = cached_checkpoint(root, "k1", _trainer(calls), {"config": {"kind": "x"}})
    assert not hit and len(calls) == 1 and manifest["steps"] == 3
    keys = s3_keys(url)
    assert {"_checkpoints/k1/manifest.json", "_checkpoints/k1/model/weights.bin", "_checkpoints/k1/model/labels.json"} <= set(keys)
    assert (root / "_checkpoints" / "k1" / "model" / "weights.bin").read_bytes() == b"\x00" * 1000  # replaced whole

    # another machine (a state folder of its own): the checkpoint is reused, and loaded from a downloaded copy
    monkeypatch.setenv("SYNTH_STATE_DIR", str(tmp_path / "machine_b"))
    again, manifest_b, hit_b = cached_checkpoint(root, "k1", _trainer(calls), {})
    assert hit_b and len(calls) == 1 and manifest_b == manifest
    model = local_checkpoint(str(again / "model"))
    assert model.is_relative_to(tmp_path / "machine_b") and (model / "weights.bin").read_bytes() == b"\x00" * 1000
    assert json.loads((model.parent / MANIFEST).read_text())["checkpoint_id"] == "k1"
