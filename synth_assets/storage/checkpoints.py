"""The checkpoint cache: a student is keyed by hash(train data, training config, base model).

An existing checkpoint with the same key is reused, across runs and after downstream tables
are deleted; training writes into a temp folder that is renamed only when complete.

On an object store a checkpoint is trained in a local temp folder, its files uploaded, and its
manifest uploaded last: the manifest is what makes it exist, so a crash mid-upload leaves a
checkpoint that is trained again, never one that loads half. A student is loaded from a local
copy in the warehouse's state folder, downloaded once (`local_checkpoint`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from synth_assets.hashing import stable_hash
from synth_assets.storage.catalog import CHECKPOINT_DIR
from synth_assets.storage.location import Location, is_remote, is_url, location, state_dir, warehouse_location
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
    root: Location, key: str, train: Callable[[Path], Any], manifest_extra: dict[str, Any]
) -> tuple[Location, dict[str, Any], bool]:
    """The checkpoint dir and manifest for `key`, training only when it does not exist yet."""
    root = warehouse_location(root)
    final = root / CHECKPOINT_DIR / key
    manifest_path = final / MANIFEST
    if manifest_path.exists():
        return final, json.loads(manifest_path.read_text()), True
    if is_remote(root):
        local, manifest, _ = cached_checkpoint(state_dir(root), key, train, manifest_extra)
        _upload(local, final)
        return final, manifest, False
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


def _upload(local: Path, remote: Location) -> None:
    """A checkpoint's files, then its manifest: the manifest last, so it names only a complete upload."""
    files = sorted(p for p in local.rglob("*") if p.is_file() and p.name != MANIFEST)
    for file in files + [local / MANIFEST]:
        remote.fs.put_file(str(file), f"{remote.path}/{file.relative_to(local).as_posix()}")


def local_checkpoint(model_path: str | Path) -> Path:
    """A student's model folder on this machine: itself, or for one on an object store a local copy, downloaded once."""
    if not is_url(model_path):
        return Path(model_path)
    remote = location(model_path).parent  # <warehouse>/_checkpoints/<key>; the model is its model/ folder
    local = state_dir(warehouse_location(str(remote.parent.parent))) / CHECKPOINT_DIR / remote.name
    if not (local / MANIFEST).is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(local.parent, f".{remote.name}.")
        try:
            for obj in remote.fs.find(remote.path):
                target = tmp / obj[len(remote.path):].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                remote.fs.get_file(obj, str(target))
            if not (tmp / MANIFEST).is_file():
                raise FileNotFoundError(f"checkpoint {remote} has no {MANIFEST}: it was never completely uploaded")
            if local.exists():
                shutil.rmtree(local)
            tmp.rename(local)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return local / Path(model_path).name
