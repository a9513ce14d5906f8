"""The checkpoint cache: a student is keyed by hash(train data, training config, base model).

An existing checkpoint with the same key is reused, across runs and after downstream tables
are deleted; training writes into a temp folder that is renamed only when complete.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from synth_assets.hashing import stable_hash
from synth_assets.storage.catalog import CHECKPOINT_DIR
from synth_assets.storage.temp_files import temp_dir

MANIFEST = "manifest.json"
# Bump when training code changes in a way that makes old checkpoints wrong to reuse.
TRAINING_CODE_VERSION = "1"
# The same, for one student kind's own training code, so a change there retrains only that kind.
KIND_CODE_VERSIONS = {"encoder_classifier": "2"}  # 2: batches sorted by length within windows (length_batches)


def checkpoint_key(train_version: str, config: dict[str, Any], base_model: str) -> str:
    """hash(train data version, training config, base model, training code); kinds at version 1 keep their old keys."""
    kind_version = KIND_CODE_VERSIONS.get(str(config.get("kind")))
    extra = (kind_version,) if kind_version else ()
    return stable_hash(train_version, config, base_model, TRAINING_CODE_VERSION, *extra, length=20)


def cached_checkpoint(
    root: Path, key: str, train: Callable[[Path], Any], manifest_extra: dict[str, Any]
) -> tuple[Path, dict[str, Any], bool]:
    """The checkpoint dir and manifest for `key`, training only when it does not exist yet."""
    final = Path(root) / CHECKPOINT_DIR / key
    manifest_path = final / MANIFEST
    if manifest_path.exists():
        return final, json.loads(manifest_path.read_text()), True
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(final.parent, f".{key}.")  # not mkdtemp: its 0700 would lock a shared warehouse's other users out
    try:
        model_dir = tmp / "model"
        model_dir.mkdir()
        report = train(model_dir)
        manifest = {"checkpoint_id": key, **manifest_extra, **asdict(report)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if final.exists():  # an incomplete leftover (no manifest): replace it
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, manifest, False
