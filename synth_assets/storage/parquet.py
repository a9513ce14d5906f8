"""Atomic Parquet IO: a reader never sees a half-written table, a crash never leaves one."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from synth_assets.storage.temp_files import temp_file


def table_path(root: Path, key: list[str], partition: str | None = None) -> Path:
    """warehouse/<pipeline>/<table>.parquet, or .../<table>/<partition>.parquet when partitioned."""
    *folders, name = key
    base = root.joinpath(*folders)
    return base / name / f"{partition}.parquet" if partition else base / f"{name}.parquet"


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over the target (mode from the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            df.write_parquet(fh, compression="zstd", statistics=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_table(path: Path) -> pl.DataFrame:
    """Read a table written by write_parquet_atomic, naming the file when it is missing."""
    if not path.exists():
        raise FileNotFoundError(f"table {path} does not exist yet: materialise its asset first")
    return pl.read_parquet(path)
